"""What the review found safe, pinned so it stays safe: models cannot run code (arbitrary
classes, custom code, auto_map, pickle beside a decoy, symlinked weights), huge safetensors
headers are refused cheaply, "Use parameters" never follows a path from a file, and deleting
from the history never follows a symlink. (Also pinned elsewhere: weights_only pickle loading in
tests/reliability/test_bad_models.py, image bombs in test_bad_images.py, the A1111 parser in
test_redos.py and test_bad_images.py.)"""

from __future__ import annotations

import contextlib
import json
import shutil
import struct
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from pipeline import ModelError
from pipeline.cli import main
from pipeline.models import load_text2image, parse_model_source
from tests.pngs import png_with_text


class Payload:
    """Unpickling this creates a file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def evil_module(folder: Path, marker: Path, name: str = "evil_module") -> None:
    """A Python module that creates `marker` when imported."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.py").write_text(
        f"open({str(marker)!r}, 'w').close()\nclass Evil:\n    pass\n"
    )


def arbitrary_class(model: Path, marker: Path) -> None:
    index = json.loads((model / "model_index.json").read_text())
    index["unet"] = ["evil_module", "Evil"]
    (model / "model_index.json").write_text(json.dumps(index))
    evil_module(model, marker)
    evil_module(model / "unet", marker)


def custom_pipeline_code(model: Path, marker: Path) -> None:
    index = json.loads((model / "model_index.json").read_text())
    index["_class_name"] = ["pipeline_evil", "Evil"]
    (model / "model_index.json").write_text(json.dumps(index))
    evil_module(model, marker, "pipeline_evil")


def auto_map(model: Path, marker: Path) -> None:
    config = json.loads((model / "text_encoder" / "config.json").read_text())
    config["auto_map"] = {"AutoModel": "evil_module.Evil", "AutoConfig": "evil_module.Evil"}
    (model / "text_encoder" / "config.json").write_text(json.dumps(config))
    evil_module(model / "text_encoder", marker)


def pickle_beside_a_decoy(model: Path, marker: Path) -> None:
    weights = model / "unet" / "diffusion_pytorch_model.safetensors"
    torch.save({"w": torch.zeros(1), "x": Payload(marker)}, weights.with_suffix(".bin"))
    weights.unlink()
    save_file({"decoy": torch.zeros(2)}, str(model / "unet" / "decoy.safetensors"))


def symlinked_weights(model: Path, marker: Path) -> None:
    evil = model.parent / "elsewhere" / "evil.bin"
    evil.parent.mkdir()
    torch.save({"w": torch.zeros(1), "x": Payload(marker)}, evil)
    weights = model / "unet" / "diffusion_pytorch_model.safetensors"
    weights.unlink()
    weights.symlink_to(evil)


MODELS = {
    "arbitrary-class": arbitrary_class,
    "custom-pipeline-code": custom_pipeline_code,
    "auto-map-in-a-config": auto_map,
    "pickle-bin-beside-a-decoy": pickle_beside_a_decoy,
    "safetensors-symlinked-to-a-pickle": symlinked_weights,
}


@pytest.mark.parametrize("case", list(MODELS))
def test_a_model_folder_cannot_run_code(tiny_model_dir, tmp_path, case):
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    marker = tmp_path / "code-ran"
    MODELS[case](model, marker)
    with contextlib.suppress(ModelError):  # refused or loaded: what matters is that nothing ran
        load_text2image(parse_model_source(str(model)), "cpu", None)
    assert not marker.exists(), f"{case}: code from the model folder ran"


@pytest.mark.parametrize("claimed", [2**60, 100 * 2**20])
def test_a_huge_safetensors_header_is_refused_cheaply(tmp_path, capsys, claimed):
    """The first 8 bytes claim the JSON header's length: 1 EiB, or 100 MB in a 1 KB file."""
    path = tmp_path / "huge-header.safetensors"
    path.write_bytes(struct.pack("<Q", claimed) + b"{" + b" " * 1000)
    started = time.perf_counter()
    assert main(["inspect", str(path)]) == 2
    assert time.perf_counter() - started < 5
    err = capsys.readouterr().err  # (a traceback before: inspect let SafetensorError out)
    reason = "Error while deserializing header: header too large"
    assert err == f"error: Could not load model 'huge-header': {reason}.\n"


def test_use_parameters_never_follows_a_path_in_the_file(qtbot, make_app, tmp_path):
    """Paths in metadata (model, init image, mask, output folder) are data, never opened."""
    elsewhere = tmp_path / "elsewhere"
    request = {"prompt": "p", "steps": 9, "model": str(elsewhere / "model"),
               "init_image": str(elsewhere / "init.png"), "mask": str(elsewhere / "mask.png"),
               "output_dir": str(elsewhere / "out")}  # fmt: skip
    chunk = json.dumps({"request": request, "model": str(elsewhere / "model")})
    path = png_with_text(tmp_path / "paths.png", {"brushwork": chunk})
    app, _ = make_app()
    window = app.window
    models_before = (window.model_picker.sources(), window.model_picker.current())
    assert window.use_parameters_of(path)
    assert window.panel.steps.value() == 9
    assert (window.model_picker.sources(), window.model_picker.current()) == models_before
    assert not elsewhere.exists() and window.history.folder == tmp_path / "outputs"


def test_history_delete_removes_a_symlink_not_its_target(qtbot, make_app, tmp_path, monkeypatch):
    precious = png_with_text(tmp_path / "precious.png", {}, value=9)
    out = tmp_path / "outputs"
    out.mkdir()
    link = out / "link.png"
    link.symlink_to(precious)
    app, _ = make_app()
    window = app.window
    assert window.history.paths() == [link]
    monkeypatch.setattr(window.files, "confirm_delete", lambda path: True)
    assert window.files.delete_from_history(link)
    assert not link.is_symlink() and not link.exists()
    assert precious.read_bytes().startswith(b"\x89PNG")
