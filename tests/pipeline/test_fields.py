"""The field table is the one source of truth: request, metadata and defaults all follow it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from pipeline import GenerationRequest, InpaintArea, Mode, RequestError, fields
from pipeline.branching import BranchPoint
from pipeline.cli import main
from pipeline.control import ControlUnit
from pipeline.metadata import format_parameters, parse_parameters
from pipeline.model_card import model_defaults, peek_model_defaults
from pipeline.models import bundled_model_dir
from pipeline.outpaint import outpaint_request

# A value other than the default for every field the metadata records (table-driven tests
# below fail for a new field until it gets one here).
SAMPLES = {
    "prompt": "a large red circle, blue background",
    "negative_prompt": "green",
    "mode": Mode.INPAINT,
    "steps": 3,
    "sampler": "ddim",
    "guidance": 4.5,
    "seed": 1234,
    "width": 72,
    "height": 80,
    "model": "some-model",
    "batch_size": 2,
    "strength": 0.85,
    "mask_blur": 3,
    "mask_grow": -2,
    "inpaint_area": InpaintArea.ONLY_MASKED,
    "inpaint_padding": 12,
    "color_correction": False,
    "hires_scale": 2.0,
    "hires_strength": 0.6,
    "hires_steps": 2,
    "hires_upscaler": "latent",
    "prompt_style": "pipeline",
    "loras": (("style.safetensors", 0.5),),
    "lora_dir": "/loras",
    "embeddings": ("shade.safetensors",),
    "embedding_dir": "/embeddings",
    "clip_skip": 2,
    "vae": "/vae.safetensors",
    "branch": BranchPoint(
        step=3,
        total=8,
        latents=np.zeros((1, 4, 16, 16), np.float32),
        scheduler_state={},
        generator_states=(),
        timesteps=np.arange(8),
        offset=0,
        schedule_steps=8,
        sampler="euler",
        steps=8,
        width=64,
        height=64,
        seed=1,
        model_name="m",
        model_hash="h",
    ),  # a step to continue from; the engine fills it in (branching.py)
    "controls": (ControlUnit(np.full((8, 8, 3), 255, np.uint8), "cn.safetensors", "canny"),),
}


def test_every_table_field_is_a_request_field_and_back():
    request_fields = {f.name for f in dataclasses.fields(GenerationRequest)}
    assert set(fields.NAMES) == request_fields - {"init_image", "mask"}
    assert set(SAMPLES) == set(fields.NAMES), "give every new field a sample value"


@pytest.mark.parametrize("spec", fields.FIELDS, ids=lambda s: s.name)
def test_each_default_and_sample_is_valid_and_they_differ(spec):
    default = spec.default if spec.default is not None else fields.FALLBACKS.get(spec.name)
    if default is not None:
        assert fields.validate(spec.name, default) == default
    assert fields.validate(spec.name, SAMPLES[spec.name]) == SAMPLES[spec.name]
    assert SAMPLES[spec.name] != default


@pytest.mark.parametrize("mode", [Mode.TXT2IMG, Mode.INPAINT])
def test_a1111_text_round_trips_every_field_that_has_a_key(mode):
    """Per mode, as a request would hold them: the hires fields (txt2img) and strength
    (img2img, inpaint) share A1111's `Denoising strength`."""
    used = fields.used_by(mode)
    values = {
        **GenerationRequest(prompt="x").resolved().to_metadata(),
        **{name: SAMPLES[name] for name in used},
        "mode": mode,
    }
    values = {k: v.value if hasattr(v, "value") else v for k, v in values.items()}
    parsed = parse_parameters(format_parameters(values, "some-model"))
    for spec in fields.FIELDS:
        if spec.a1111 is not None and spec.name in used:
            assert parsed[spec.name] == SAMPLES[spec.name], spec.name
    assert "mode" not in parsed  # A1111 text has no mode; the brushwork chunk does
    unused = {s.name for s in fields.FIELDS if s.a1111 and s.name not in used} - {"model"}
    assert not unused & set(parsed), "a field of another mode was read from the text"


def test_with_the_hires_fix_denoising_strength_is_the_hires_strength():
    text = "x\nSteps: 20, Seed: 1, Size: 64x64, Hires upscale: 2, Denoising strength: 0.4"
    parsed = parse_parameters(text)
    assert parsed["hires_strength"] == 0.4 and "strength" not in parsed
    assert parse_parameters(text.replace(", Hires upscale: 2", ""))["strength"] == 0.4


def test_clean_keeps_valid_values_and_names_each_dropped_one():
    kept, notes = fields.clean(
        {"steps": 10**30, "prompt": ["a"], "width": "512", "guidance": 3.5, "seed": 2**40 + 5,
         "mode": "paint", "color_correction": 1, "unknown": 3}
    )  # fmt: skip
    assert kept == {"guidance": 3.5, "seed": 5}
    said = " ".join(notes)
    for words in ("Steps", str(10**30), "Prompt", "Width", "'512'", "Mode", "'paint'",
                  "wrapped to 5", "Match colours"):  # fmt: skip
        assert words in said


def test_none_means_the_models_own_size_sampler_and_cfg():
    request = GenerationRequest(prompt="x")
    assert (request.width, request.height, request.sampler, request.guidance) == (None,) * 4
    own = request.resolved({"width": 64, "height": 64, "sampler": "euler", "guidance": 5.0})
    assert (own.width, own.height, own.sampler, own.guidance) == (64, 64, "euler", 5.0)
    fallback = request.resolved({})
    assert (fallback.width, fallback.sampler, fallback.guidance) == (512, "euler_a", 7.0)
    image = np.zeros((100, 60, 3), np.uint8)
    img2img = GenerationRequest(prompt="x", mode="img2img", init_image=image).resolved({})
    assert (img2img.width, img2img.height) == (64, 104)  # the image's, snapped to 8


def test_strength_defaults_per_mode():
    image = np.zeros((64, 64, 3), np.uint8)
    mask = np.full((64, 64), 255, np.uint8)
    assert GenerationRequest(prompt="x", mode="img2img", init_image=image).strength == 0.75
    inpaint = GenerationRequest(prompt="x", mode="inpaint", init_image=image, mask=mask)
    assert inpaint.strength == 1.0


@pytest.mark.parametrize(
    ("value", "snapped"), [(100, 104), (96, 96), (99, 96), (4, 64), (5000, 4096)]
)
def test_sizes_snap_to_the_nearest_multiple_of_8_halves_up(value, snapped):
    assert fields.snap_to_multiple(value) == snapped


def test_outpaint_generates_at_the_size_the_panel_shows():
    """100×100 extended by 64 at the top: 100 wide stays, 164 high is rounded up to 168 by
    extending; the generation width 100 → 104 (it was 96: banker's rounding of 12.5)."""
    from gui.panels import generation_size

    job = outpaint_request(np.zeros((100, 100, 3), np.uint8), (0, 64, 0, 0), "x")
    assert job.request.init_image.shape[:2] == (168, 100)
    assert (job.request.width, job.request.height) == generation_size(100, 168) == (104, 168)


def test_the_bundled_models_card_says_euler_cfg_5_at_64():
    expected = {"sampler": "euler", "guidance": 5.0, "width": 64, "height": 64}
    assert model_defaults(bundled_model_dir(), 64) == expected
    assert peek_model_defaults(None) == expected  # from the configs alone, no torch


@pytest.mark.parametrize(
    "card",
    ["---\ninference: [1, 2\n---\n", "no front matter",
     "---\ninference:\n  parameters:\n    guidance_scale: 1e400\n---",
     "---\ninference:\n  parameters:\n    guidance_scale: '5'\n---"],
)  # fmt: skip
def test_a_broken_or_hostile_card_gives_no_defaults(tmp_path: Path, card: str):
    (tmp_path / "README.md").write_text(card, encoding="utf-8")
    assert model_defaults(tmp_path, None) == {}


def test_the_engine_fills_in_the_models_own_values(engine, tiny_model_dir):
    """Before: a request without a size was 512² whatever the model (the bundled 64-px model
    tiled its subject there); now None is the loaded model's native size."""
    result = engine.run(GenerationRequest(prompt="x", steps=1, seed=1, model=str(tiny_model_dir)))
    assert result[0].image.shape == (64, 64, 3)
    assert (result[0].request.width, result[0].request.sampler) == (64, "euler_a")
    assert result[0].memory_plan is not None  # per-run facts come back with the result


def test_info_json_reports_every_request_field_of_an_inpaint(engine, tiny_model_dir, capsys):
    image = np.full((64, 64, 3), 90, np.uint8)
    mask = np.zeros((64, 64), np.uint8)
    mask[:, 32:] = 255
    request = GenerationRequest(
        prompt="x", mode="inpaint", init_image=image, mask=mask, steps=2, seed=3, mask_grow=4,
        inpaint_area="only_masked", inpaint_padding=6, model=str(tiny_model_dir),
    )  # fmt: skip
    path = engine.run(request)[0].path
    assert main(["info", "--json", str(path)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert set(info) == {*fields.used_by(Mode.INPAINT), "source"}  # no txt2img-only hires
    assert (info["mask_grow"], info["inpaint_area"], info["inpaint_padding"]) == (
        4, "only_masked", 6,
    )  # fmt: skip


def test_request_errors_still_name_field_and_value():
    with pytest.raises(RequestError, match=r"mask_blur must be between 0 and 256 \(got 300\)"):
        GenerationRequest(prompt="x", mask_blur=300)
