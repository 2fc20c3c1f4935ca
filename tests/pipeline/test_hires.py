"""Hires fix: request fields, the second pass's pixels, progress, metadata written and read."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PIL import Image

from pipeline import Cancelled, GenerationRequest, Mode, read_image_info
from pipeline.errors import RequestError
from pipeline.metadata import parse_parameters
from tests.tiny_upscaler import nearest_compact_state, save_model


def request(model_dir, **changes):
    base = dict(prompt="a red circle", width=64, height=64, steps=4, seed=7, model=str(model_dir))
    return GenerationRequest(**{**base, **changes})


HIRES = dict(hires_scale=2.0, hires_strength=0.5, hires_steps=4)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"hires_scale": 0.5}, "hires_scale must be 0 \\(off\\) or above 1 \\(got 0.5\\)"),
        ({"hires_scale": 5}, "hires_scale must be between 0 and 4 \\(got 5\\)"),
        ({"hires_scale": float("nan")}, "hires_scale must be between"),
        ({"hires_scale": 2, "hires_strength": 0}, "hires_strength must be above 0"),
        ({"hires_steps": 2.5}, "hires_steps must be a whole number"),
        ({"hires_upscaler": " "}, "hires_upscaler must be latent, lanczos or an upscaler"),
        ({"hires_scale": 2.5, "width": 2048}, "makes 2048×64 into 5120×160"),
    ],
)
def test_bad_hires_fields_are_refused_by_name(changes, message):
    with pytest.raises(RequestError, match=message):
        GenerationRequest(**{"prompt": "x", "width": 64, "height": 64, **changes})


def test_the_hires_fix_is_for_txt2img_only():
    init = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(RequestError, match="hires fix is for txt2img, not img2img"):
        GenerationRequest(prompt="x", mode=Mode.IMG2IMG, init_image=init, hires_scale=2)


def test_upscaler_names_are_normalised():
    assert GenerationRequest(prompt="x", hires_upscaler="Latent").hires_upscaler == "latent"
    assert GenerationRequest(prompt="x", hires_upscaler="My-ESRGAN").hires_upscaler == "My-ESRGAN"


def test_hires_lanczos_is_the_first_pass_resized_then_img2img(engine, tiny_model_dir):
    updates = []
    result = engine.run(request(tiny_model_dir, **HIRES), on_step=updates.append)[0]
    assert result.image.shape == (128, 128, 3)
    first = engine.run(request(tiny_model_dir))[0].image
    init = np.asarray(Image.fromarray(first).resize((128, 128), Image.Resampling.LANCZOS))
    second = request(
        tiny_model_dir, mode=Mode.IMG2IMG, init_image=init, width=128, height=128, strength=0.5
    )
    expected = engine.run(second)[0].image
    assert np.array_equal(result.image, expected)
    assert [u.step for u in updates] == [1, 2, 3, 4, 1, 2]  # 4 steps, then 4 × strength 0.5


def test_hires_with_an_upscale_model_and_latent_differ_from_lanczos(
    engine, tiny_model_dir, tmp_path
):
    model = save_model(nearest_compact_state(), tmp_path / "near.safetensors")
    lanczos = engine.run(request(tiny_model_dir, **HIRES))[0].image
    by_model = engine.run(request(tiny_model_dir, **HIRES, hires_upscaler=str(model)))[0].image
    latent = engine.run(request(tiny_model_dir, **HIRES, hires_upscaler="latent"))[0].image
    assert by_model.shape == latent.shape == (128, 128, 3)
    assert np.abs(by_model.astype(int) - lanczos).max() > 0
    assert np.abs(latent.astype(int) - lanczos).max() > 0
    from pipeline.upscale import load_upscaler

    first = engine.run(request(tiny_model_dir))[0].image
    init = load_upscaler(model).upscale(first, 2)  # the model's ×4, scaled down per tile
    second = request(
        tiny_model_dir, mode=Mode.IMG2IMG, init_image=init, width=128, height=128, strength=0.5
    )
    assert np.array_equal(engine.run(second)[0].image, by_model)


def test_hires_metadata_is_written_and_read_back(engine, tiny_model_dir):
    result = engine.run(request(tiny_model_dir, **HIRES, hires_upscaler="latent"))[0]
    with Image.open(result.path) as png:
        text = png.text["parameters"]
    assert "Size: 64x64" in text
    assert (
        "Hires upscale: 2, Denoising strength: 0.5, Hires steps: 4, Hires upscaler: Latent" in text
    )
    parsed = parse_parameters(text)
    assert (parsed["hires_scale"], parsed["hires_strength"]) == (2.0, 0.5)
    assert (parsed["hires_steps"], parsed["hires_upscaler"]) == (4, "latent")
    info = read_image_info(result.path)  # Brushwork's own JSON chunk
    assert info["hires_scale"] == 2.0 and info["hires_upscaler"] == "latent"


def test_a1111_text_without_hires_has_no_hires_fields():
    parsed = parse_parameters("x\nSteps: 20, Seed: 1, Size: 64x64, Denoising strength: 0.4")
    assert "hires_strength" not in parsed and "hires_scale" not in parsed


def test_cancel_during_the_second_pass(engine, tiny_model_dir):
    cancel = threading.Event()
    seen = []

    def on_step(update):
        seen.append(update.step)
        if len(seen) == 5:  # the first step of the second pass
            cancel.set()

    with pytest.raises(Cancelled):
        engine.run(request(tiny_model_dir, **HIRES), on_step=on_step, cancel=cancel)
    assert seen == [1, 2, 3, 4, 1]
    assert not list(engine.output_dir.glob("*.png"))


def test_cli_generate_with_the_hires_fix(tiny_model_dir, tmp_path, capsys):
    from pipeline.cli import main

    args = ["generate", "--prompt", "a red circle", "--model", str(tiny_model_dir), "--steps", "3"]
    args += ["--seed", "3", "--out", str(tmp_path), "--quiet", "--width", "64", "--height", "64"]
    assert main([*args, "--hires-scale", "1.5", "--hires-strength", "0.4"]) == 0
    path = capsys.readouterr().out.split("\t")[0]
    with Image.open(path) as png:
        assert png.size == (96, 96)
        assert (
            "Hires upscale: 1.5, Denoising strength: 0.4, Hires upscaler: Lanczos"
            in png.text["parameters"]
        )
    assert main([*args, "--hires-scale", "0.5"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: hires_scale must be 0 (off) or above 1 (got 0.5)."
    )
