"""Outpainting: size rounding, the request it builds, the engine run, and the CLI flags."""

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from pipeline import Mode, RequestError
from pipeline.cli import main
from pipeline.masks import feather_mask
from pipeline.outpaint import outpaint_request, round_sides


def image(height=64, width=64, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


@given(
    width=st.integers(1, 200),
    height=st.integers(1, 200),
    sides=st.tuples(*[st.integers(0, 100)] * 4),
)
def test_rounding_only_grows_extended_sides_and_reaches_a_multiple_of_8(width, height, sides):
    applied = round_sides((width, height), sides)
    assert all(a >= s and a - s < 8 for a, s in zip(applied, sides, strict=True))
    assert all(a == 0 for a, s in zip(applied, sides, strict=True) if s == 0)
    left, top, right, bottom = applied
    if sides[0] or sides[2]:
        assert (width + left + right) % 8 == 0
    if sides[1] or sides[3]:
        assert (height + top + bottom) % 8 == 0


def test_request_places_the_image_and_masks_the_new_area():
    job = outpaint_request(image(), (16, 0, 8, 8), "sea", steps=3, seed=1)
    request = job.request
    assert job.sides == (16, 0, 8, 8) and job.note is None
    assert request.mode is Mode.INPAINT and request.strength == 1.0
    assert (request.width, request.height) == (88, 72)
    assert request.init_image.shape == (72, 88, 3)
    assert np.array_equal(request.init_image[0:64, 16:80], image())
    assert (request.mask[:, :16] == 255).all() and (request.mask[64:] == 255).all()
    assert not request.mask[0:64, 16:80].any()


def test_uneven_extension_is_rounded_up_and_said_so():
    job = outpaint_request(image(60, 50), (10, 0, 0, 3), "sea")
    assert job.sides == (14, 0, 0, 4)
    assert job.request.init_image.shape == (64, 64, 3)
    assert "14,0,0,4" in job.note and "10,0,0,3" in job.note


def test_an_axis_that_is_not_extended_keeps_its_size_and_is_scaled_for_generation():
    job = outpaint_request(image(61, 64), (0, 0, 16, 0), "sea")
    assert job.request.init_image.shape == (61, 80, 3)
    assert (job.request.width, job.request.height) == (80, 64)
    assert "generated at 80×64 and scaled back" in job.note


@pytest.mark.parametrize(
    ("sides", "message"),
    [((0, 0, 0, 0), "at least one side"), ((-8, 0, 0, 0), "0 or more"), ((8, 0), "four")],
)
def test_bad_sides_are_refused(sides, message):
    with pytest.raises(RequestError, match=message):
        outpaint_request(image(), sides, "sea")


def test_a_canvas_beyond_the_size_limit_is_refused_clearly():
    with pytest.raises(RequestError, match="more than 4096"):
        outpaint_request(image(), (0, 0, 4096, 0), "sea")


def test_engine_outpaint_fills_the_new_area_and_keeps_the_old_pixels(engine, tiny_model_dir):
    old = image(seed=4)
    job = outpaint_request(old, (0, 0, 24, 8), "sea", steps=3, seed=2, model=str(tiny_model_dir))
    result = engine.run(job.request)[0]
    assert result.image.shape == (72, 88, 3)
    band = feather_mask(job.request.mask, job.request.mask_blur) > 0
    assert np.array_equal(result.image[~band], job.request.init_image[~band])
    assert np.array_equal(result.image[0:60, 0:60], old[0:60, 0:60])
    new_area = job.request.mask == 255
    differs = np.any(result.image != job.request.init_image, axis=-1)[new_area]
    assert differs.mean() > 0.9  # generated, not the pre-fill


def test_cli_outpaint_round_trip(tiny_model_dir, tmp_path, capsys):
    init = tmp_path / "init.png"
    Image.fromarray(image(64, 60)).save(init)
    code = main(["generate", "--prompt", "sea", "--model", str(tiny_model_dir), "--init",
                 str(init), "--outpaint", "0,0,2,8", "--steps", "2", "--seed", "3",
                 "--mask-blur", "2", "--only-masked", "--padding", "8", "--width", "64",
                 "--height", "64",
                 "--out", str(tmp_path / "o")])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "outpaint: extended by 0,0,4,8" in captured.err
    path = Path(captured.out.split("\t")[0])
    with Image.open(path) as png:
        assert png.size == (64, 72)
        data = json.loads(png.text["brushwork"])["request"]
    assert data["mode"] == "inpaint" and data["strength"] == 1.0
    assert (data["mask_blur"], data["inpaint_area"], data["inpaint_padding"]) == (
        2,
        "only_masked",
        8,
    )


def test_cli_inpaint_flags_reach_the_request(tiny_model_dir, tmp_path, capsys):
    init, mask = tmp_path / "init.png", tmp_path / "mask.png"
    Image.fromarray(image()).save(init)
    painted = np.zeros((64, 64), np.uint8)
    painted[20:40, 20:40] = 255
    Image.fromarray(painted).save(mask)
    code = main(["generate", "--prompt", "x", "--model", str(tiny_model_dir), "--init",
                 str(init), "--mask", str(mask), "--mask-grow", "-2", "--mask-blur", "0",
                 "--no-color-correction", "--steps", "2", "--quiet",
                 "--out", str(tmp_path / "o")])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    data = json.loads(Image.open(captured.out.split("\t")[0]).text["brushwork"])["request"]
    assert (data["mask_grow"], data["mask_blur"], data["color_correction"]) == (-2, 0, False)
    assert data["inpaint_area"] == "whole" and data["strength"] == 1.0  # inpaint's default


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--outpaint", "1,2,3"], "expected four pixel counts"),
        (["--outpaint", "a,b,c,d"], "expected four pixel counts"),
        (["--outpaint", "0,0,-8,0"], "expected four pixel counts"),
        (["--outpaint", "0,0,8,0"], "--outpaint needs --init"),
        (["--init", "{init}", "--outpaint", "0,0,0,0"], "at least one side"),
        (["--init", "{init}", "--mask", "{mask}", "--outpaint", "8,0,0,0"], "leave out --mask"),
        (["--only-masked"], "Inpaint options need --mask"),
        (["--init", "{init}", "--mask", "{mask}", "--mask-blur", "-1"], "mask_blur must be"),
        (["--init", "{init}", "--mask", "{mask}", "--padding", "-3"], "inpaint_padding must"),
        (["--init", "{init}", "--mask", "{mask}", "--mask-grow", "999"], "mask_grow must be"),
    ],
)
def test_bad_inpaint_flags_exit_2_with_one_line(args, message, tmp_path, capsys):
    init, mask = tmp_path / "init.png", tmp_path / "mask.png"
    Image.new("RGB", (64, 64)).save(init)
    Image.new("L", (64, 64), 255).save(mask)
    args = [a.replace("{init}", str(init)).replace("{mask}", str(mask)) for a in args]
    try:
        code = main(["generate", "--prompt", "x", *args])
    except SystemExit as exit_:  # argparse's own errors
        code = exit_.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err


def test_cli_only_masked_generates_at_the_models_size_unless_a_size_is_given(tmp_path):
    from pipeline.cli import _request_from_args, build_parser

    init, mask = tmp_path / "init.png", tmp_path / "mask.png"
    Image.fromarray(image(96, 80)).save(init)
    Image.new("L", (80, 96), 255).save(mask)
    base = ["generate", "--prompt", "x", "--init", str(init), "--mask", str(mask)]
    parse = build_parser().parse_args
    plain = _request_from_args(parse(base))
    assert (plain.width, plain.height) == (80, 96)
    only = _request_from_args(parse([*base, "--only-masked"]))
    # None: the engine uses the loaded model's native size (64 for the bundled model)
    assert (only.width, only.height) == (None, None) and only.inpaint_area.value == "only_masked"
    assert (only.resolved({"width": 64, "height": 64}).width, only.resolved().width) == (64, 512)
    sized = _request_from_args(parse([*base, "--only-masked", "--width", "128"]))
    assert (sized.width, sized.height) == (128, None)
    outpaint = [*base[:5], "--outpaint", "0,0,16,0", "--only-masked"]
    extended = _request_from_args(parse(outpaint))
    assert (extended.width, extended.height) == (512, 512)
    assert extended.init_image.shape == (96, 96, 3)
