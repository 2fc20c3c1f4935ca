"""Broken, wrong or dangerous models: a clear error in the window, and the app keeps working.

Each case goes through the GUI's real path (model picker → worker → real engine → error line),
then the tiny model is picked again and an image is generated, proving the app survived.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from gui.settings import Settings
from gui.worker import engine_factory
from pipeline import ModelError, parse_model_source
from pipeline.models import load_text2image
from tests.gui.conftest import wait_idle


def copy_model(tiny: Path, tmp: Path) -> Path:
    folder = tmp / "broken-model"
    shutil.copytree(tiny, folder)
    return folder


def missing_component(folder: Path) -> Path:
    shutil.rmtree(folder / "vae")
    return folder


def missing_weights(folder: Path) -> Path:
    next((folder / "unet").glob("*.safetensors")).unlink()
    return folder


def truncated_safetensors(folder: Path) -> Path:
    weights = next((folder / "unet").glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:4096])
    return folder


def corrupt_safetensors_bytes(folder: Path) -> Path:
    weights = next((folder / "text_encoder").glob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[8:40] = b"\xff" * 32  # the JSON header is garbage now
    weights.write_bytes(bytes(data))
    return folder


def only_pickle_weights(folder: Path) -> Path:
    for weights in list(folder.glob("*/*.safetensors")):
        torch.save(load_file(str(weights)), weights.with_suffix(".bin"))
        weights.unlink()
    return folder


def index_not_json(folder: Path) -> Path:
    (folder / "model_index.json").write_text("{ this is not json", encoding="utf-8")
    return folder


def single_file_random_bytes(folder: Path) -> Path:
    target = folder.parent / "random.safetensors"
    target.write_bytes(b"\x00\x01garbage" * 1000)
    return target


def single_file_not_a_checkpoint(folder: Path) -> Path:
    from safetensors.torch import save_file

    target = folder.parent / "lora-like.safetensors"
    save_file({"lora_unet_down.weight": torch.zeros(2, 2)}, str(target))
    return target


CASES = {
    "folder-missing-a-component": (missing_component, "incomplete: vae/ is missing"),
    "folder-missing-weights": (missing_weights, "incomplete: unet/ has no weights"),
    "truncated-safetensors": (truncated_safetensors, "Could not load model 'broken-model'"),
    "corrupt-safetensors": (corrupt_safetensors_bytes, "Could not load model 'broken-model'"),
    "folder-with-only-bin-weights": (only_pickle_weights, "only pickle weights"),
    "model-index-not-json": (index_not_json, "its model_index.json cannot be read"),
    "single-file-random-bytes": (single_file_random_bytes, "Could not load model 'random'"),
    "single-file-not-a-checkpoint": (single_file_not_a_checkpoint, "does not look like a Stable"),
}


@pytest.fixture
def real_app(make_app, tiny_model_dir, tmp_path):
    def with_real_engine(**settings):
        chosen = Settings(device="cpu", **settings)
        engine = engine_factory(tmp_path / "outputs", chosen)()
        app, _ = make_app(engine, model=str(tiny_model_dir), settings=chosen)
        return app

    return with_real_engine


def generate_still_works(qtbot, window, tiny_model_dir) -> None:
    window.error_banner.hide()
    window.model_picker.add_source(str(tiny_model_dir))
    window.panel.prompt.setPlainText("a red circle")
    window.panel.steps.setValue(2)
    window.panel.set_size(64, 64)
    window.generate()
    wait_idle(qtbot, window, timeout=120_000)
    assert not window.error_banner.isVisible(), window.error_banner.text()
    assert window.controller.last_results and window.controller.last_results[0].path.is_file()


@pytest.mark.parametrize("case", list(CASES))
def test_broken_model_is_explained_and_the_app_keeps_working(
    qtbot, real_app, tiny_model_dir, tmp_path, case
):
    damage, message = CASES[case]
    broken = damage(copy_model(tiny_model_dir, tmp_path))
    app = real_app()
    window = app.window
    canvas_before = window.doc.image.copy()
    assert window.model_picker.add_source(str(broken))  # picked: loads at once
    qtbot.waitUntil(window.error_banner.isVisible, timeout=60_000)
    assert message in window.error_banner.text()
    assert (window.doc.image == canvas_before).all()
    generate_still_works(qtbot, window, tiny_model_dir)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("photo.png", "is not a model: expected a diffusers folder or a .safetensors file"),
        ("notes.txt", "is not a model"),
        ("weights.ckpt", "pickle checkpoint, which can run code"),
    ],
    ids=["image-picked-as-model", "text-file-picked-as-model", "ckpt-without-opt-in"],
)
def test_wrong_file_type_picked_as_model(qtbot, make_app, tmp_path, name, message):
    app, _ = make_app()
    window = app.window
    wrong = tmp_path / name
    wrong.write_bytes(b"\x89PNG\r\n\x1a\n" if name.endswith(".png") else b"data")
    assert not window.model_picker.add_source(str(wrong))
    assert message in window.error_banner.text()
    assert window.model_picker.sources() == []  # not added to the list


class Payload:
    """Unpickling this creates a file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_ckpt_pickle_payload_is_never_executed(qtbot, real_app, tiny_model_dir, tmp_path):
    marker = tmp_path / "payload-ran"
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "x": Payload(marker)}, evil)
    with pytest.raises(ModelError, match="pickle checkpoint"):
        parse_model_source(str(evil))  # refused by default
    with pytest.raises(ModelError, match="more than plain weights"):  # opted in: weights only
        load_text2image(parse_model_source(str(evil), allow_pickle=True), "cpu", None)

    app = real_app(allow_pickle=True)  # the GUI path with the opt-in on
    window = app.window
    window.model_picker.add_source(str(evil))
    qtbot.waitUntil(window.error_banner.isVisible, timeout=60_000)
    assert "more than plain weights" in window.error_banner.text()
    assert not marker.exists()
    generate_still_works(qtbot, window, tiny_model_dir)


def test_every_loader_call_refuses_pickle_fallback(monkeypatch, tiny_model_dir):
    """diffusers' pickle fallback is off: every from_pretrained gets use_safetensors=True."""
    from diffusers import AutoPipelineForText2Image

    seen = []
    original = AutoPipelineForText2Image.from_pretrained.__func__

    def spy(cls, *args, **kwargs):
        seen.append(kwargs.get("use_safetensors"))
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(AutoPipelineForText2Image, "from_pretrained", classmethod(spy))
    load_text2image(parse_model_source(str(tiny_model_dir)), "cpu", None)
    with pytest.raises(ModelError):
        load_text2image(parse_model_source("org/not-cached"), "cpu", None)
    assert seen == [True, True]
    assert json.loads((tiny_model_dir / "model_index.json").read_text())  # folder untouched


@pytest.mark.parametrize("state", ["missing", "pickle-only"])
def test_a_safety_checker_that_is_never_loaded_does_not_block_the_model(
    tiny_model_dir, tmp_path, state
):
    """Brushwork passes safety_checker=None, so that folder is never read: users who deleted it
    (or whose copy holds only a .bin) must still be able to load the model."""
    import json

    folder = copy_model(tiny_model_dir, tmp_path)
    index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    index["safety_checker"] = ["stable_diffusion", "StableDiffusionSafetyChecker"]
    (folder / "model_index.json").write_text(json.dumps(index), encoding="utf-8")
    if state == "pickle-only":
        (folder / "safety_checker").mkdir()
        (folder / "safety_checker" / "pytorch_model.bin").write_bytes(b"never read")
    pipe = load_text2image(parse_model_source(str(folder)), "cpu", None)
    assert pipe.safety_checker is None
