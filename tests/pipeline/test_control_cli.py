"""ControlNet on the command line and in image metadata (A1111's `ControlNet k` fields)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.cli import main
from pipeline.control import format_control_pairs, parse_control_pairs
from pipeline.metadata import parse_parameters, read_image_info
from tests.tiny_controlnet import save_tiny_controlnet

A1111_LINE = (
    'Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512, ControlNet 0: "Module: '
    "canny, Model: control_v11p_sd15_canny [d14c016b], Weight: 0.65, Resize Mode: Crop and "
    "Resize, Low Vram: False, Processor Res: 512, Threshold A: 100, Threshold B: 200, Guidance "
    'Start: 0.1, Guidance End: 0.85, Pixel Perfect: False, Control Mode: Balanced", '
    'ControlNet 1: "Module: none, Model: scribble, Weight: 1, Guidance Start: 0, Guidance End: 1"'
)


@pytest.fixture(scope="module")
def tiny_cn(tiny_model_dir, tmp_path_factory) -> Path:
    return save_tiny_controlnet(tiny_model_dir, tmp_path_factory.mktemp("cn") / "tiny-cn")


@pytest.fixture
def photo(tmp_path) -> Path:
    image = np.zeros((64, 64, 3), np.uint8)
    image[16:48, 20:44] = (250, 200, 40)  # a filled box: canny finds its outline
    path = tmp_path / "photo.png"
    Image.fromarray(image).save(path)
    return path


def generate(model: Path, out: Path, *extra: str) -> int:
    return main(["generate", "--prompt", "a red circle", "--model", str(model), "--steps", "2",
                 "--seed", "3", "--quiet", "--out", str(out), *extra])  # fmt: skip


def test_cli_control_is_written_and_read_back(tiny_model_dir, tiny_cn, photo, tmp_path, capsys):
    code = generate(tiny_model_dir, tmp_path / "o", "--controlnet", str(tiny_cn), "--control",
                    f"{photo}:0.8:0.1:0.9", "--control-type", "canny")  # fmt: skip
    assert code == 0, capsys.readouterr().err
    path = Path(capsys.readouterr().out.split("\t")[0])
    text = Image.open(path).text["parameters"]
    assert (
        'ControlNet 0: "Module: canny, Model: tiny-cn, Weight: 0.8, Guidance Start: 0.1, '
        'Guidance End: 0.9"'
    ) in text
    unit = {"module": "canny", "model": "tiny-cn", "weight": 0.8, "guidance_start": 0.1,
            "guidance_end": 0.9}  # fmt: skip
    assert parse_parameters(text)["controls"] == (unit,)
    assert read_image_info(path)["controls"] == (unit,)  # from the brushwork JSON chunk
    assert main(["info", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["controls"] == [unit]


def test_cli_control_pixels_differ_from_plain_and_repeat(tiny_model_dir, tiny_cn, photo,
                                                         tmp_path, capsys):  # fmt: skip
    args = ("--controlnet", str(tiny_cn), "--control", str(photo))
    outputs = []
    for extra in (args, args, ()):
        assert generate(tiny_model_dir, tmp_path / f"o{len(outputs)}", *extra) == 0
        outputs.append(np.asarray(Image.open(capsys.readouterr().out.split("\t")[0])))
    assert np.array_equal(outputs[0], outputs[1])
    assert not np.array_equal(outputs[0], outputs[2])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--control", "{photo}"], "--control needs a --controlnet MODEL"),
        (["--controlnet", "{cn}"], "--controlnet and --control-type need a --control IMAGE"),
        (["--controlnet", "{cn}", "--control", "{photo}:3"], "strength must be between 0 and 2"),
        (["--controlnet", "{cn}", "--control", "{photo}:1:0.9:0.2"], "start 0.9 is after end"),
        (["--controlnet", "{cn}", "--control", "{photo}", "--control", "{photo}",
          "--control", "{photo}", "--controlnet", "{cn}"], "one --controlnet for all"),
        (["--controlnet", "{cn}", "--control", "nothing-here.png"], "nothing-here.png"),
        (["--controlnet", "{cn}", "--control", "{photo}", "--control-type", "scribble"],
         None),  # a plain photo with strokes: fine
        (["--controlnet", "{cn}", "--control", "{blank}", "--control-type", "scribble"],
         "The scribble is empty"),
        (["--controlnet", "{tmp}/cn.pth", "--control", "{photo}"], "pickle file"),
    ],
)  # fmt: skip
def test_cli_control_bad_input_is_one_error_line(tiny_model_dir, tiny_cn, photo, tmp_path,
                                                 capsys, extra, message):  # fmt: skip
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((64, 64, 3), 255, np.uint8)).save(blank)
    (tmp_path / "cn.pth").write_bytes(b"\x80\x04K\x01.")
    names = {"photo": photo, "cn": tiny_cn, "blank": blank, "tmp": tmp_path}
    args = [a.format(**names) for a in extra]
    code = generate(tiny_model_dir, tmp_path / "o", *args)
    err = capsys.readouterr().err.strip()
    if message is None:
        assert code == 0, err
        return
    assert code == 2
    assert len(err.splitlines()) == 1 and message in err, err
    assert not list((tmp_path / "o").glob("*.png"))


def test_a1111_controlnet_fields_are_read():
    parsed = parse_parameters("a cat\n" + A1111_LINE)
    assert parsed["controls"] == (
        {"module": "canny", "model": "control_v11p_sd15_canny [d14c016b]", "weight": 0.65,
         "guidance_start": 0.1, "guidance_end": 0.85},
        {"module": "none", "model": "scribble", "weight": 1.0, "guidance_start": 0.0,
         "guidance_end": 1.0},
    )  # fmt: skip
    assert parsed["steps"] == 20


def test_written_pairs_read_back_and_hostile_values_are_left_out():
    units = [{"module": "scribble", "model": "my, odd: name", "weight": 1.5,
              "guidance_start": 0.25, "guidance_end": 0.5}]  # fmt: skip
    pairs = dict(format_control_pairs(units))
    back = parse_control_pairs(pairs)
    assert back == ({**units[0], "model": "my  odd  name"},)
    hostile = {"ControlNet 0": "Weight: nan, Model: x", "ControlNet 99999": "Model: y",
               "ControlNet 1": "Module: canny", "ControlNet 2": "Model: z, Weight: 1e999",
               "ControlNet 3": "Model: " + "a," * 100_000}  # fmt: skip
    assert parse_control_pairs(hostile) == ({"model": "a"},)
