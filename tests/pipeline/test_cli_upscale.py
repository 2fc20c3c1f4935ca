"""`brushwork-cli upscale`: a PNG with the parameters plus the upscale, or one error line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from pipeline.cli import main
from tests.tiny_upscaler import compact_state, nearest_compact_state, save_model


def _source(tmp_path: Path, size: tuple[int, int] = (24, 16)) -> Path:
    pixels = np.random.default_rng(1).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    info = PngInfo()
    info.add_text("parameters", "a red circle\nSteps: 20, Seed: 7, Size: 24x16")
    info.add_text("Comment", "not a parameter chunk")
    path = tmp_path / "src.png"
    Image.fromarray(pixels).save(path, pnginfo=info)
    return path


def test_upscale_writes_a_png_with_parameters_and_the_postprocess_line(tmp_path, capsys):
    model = save_model(nearest_compact_state(), tmp_path / "near-x4.safetensors")
    source = _source(tmp_path)
    out = tmp_path / "out"
    assert (
        main(["upscale", str(source), "--model", str(model), "--scale", "4", "--out", str(out)])
        == 0
    )
    written = Path(capsys.readouterr().out.strip())
    assert written == out / "src-x4.png"
    with Image.open(written) as image:
        pixels = np.asarray(image.convert("RGB"))
        text = dict(image.text)
    original = np.asarray(Image.open(source).convert("RGB"))
    assert np.array_equal(pixels, original.repeat(4, axis=0).repeat(4, axis=1))
    assert text["parameters"].startswith("a red circle")
    assert text["postprocessing"] == "Postprocess upscale by: 4, Postprocess upscaler: near-x4"
    assert "Comment" not in text


def test_upscale_to_an_exact_file_with_progress(tmp_path, capsys):
    model = save_model(compact_state(), tmp_path / "c.safetensors")
    target = tmp_path / "big.png"
    args = ["upscale", str(_source(tmp_path)), "--model", str(model), "--scale", "2"]
    assert main([*args, "--out", str(target)]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == str(target) and "tile 1/1" in captured.err
    assert Image.open(target).size == (48, 32)


def test_a_scale_other_than_2_or_4_exits_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["upscale", str(_source(tmp_path)), "--scale", "3"])
    assert exited.value.code == 2
    assert "invalid choice: 3" in capsys.readouterr().err


def test_a_missing_upscaler_exits_2_with_one_line(tmp_path, capsys):
    assert main(["upscale", str(_source(tmp_path)), "--scale", "4", "--model", "no.pth"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: Upscaler 'no.pth' not found (no such file, nor in ")


def test_a_pickle_upscaler_is_refused_without_the_flag(tmp_path, capsys):
    model = save_model(compact_state(), tmp_path / "c.pth")
    args = ["upscale", str(_source(tmp_path)), "--model", str(model), "--scale", "4"]
    assert main([*args, "--out", str(tmp_path / "o")]) == 2
    assert "pickle file" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    assert main([*args, "--out", str(tmp_path / "o"), "--allow-pickle", "--quiet"]) == 0


def test_an_oversized_output_is_refused_before_the_model_loads(tmp_path, capsys):
    source = tmp_path / "wide.png"
    Image.new("RGB", (4097, 8)).save(source)
    args = ["upscale", str(source), "--model", str(tmp_path / "absent.safetensors")]
    assert main([*args, "--scale", "4"]) == 2
    err = capsys.readouterr().err
    assert "would make 16388×32 pixels" in err  # not "absent… not found": the size comes first


def test_upscale_with_tiled_refine(tmp_path, capsys, tiny_model_dir):
    model = save_model(nearest_compact_state(), tmp_path / "near.safetensors")
    source = _source(tmp_path, (32, 24))
    args = ["upscale", str(source), "--model", str(model), "--scale", "4", "--quiet"]
    plain, refined = tmp_path / "plain.png", tmp_path / "refined.png"
    assert main([*args, "--out", str(plain)]) == 0
    refine = ["--refine", "--prompt", "a red circle", "--strength", "0.5", "--steps", "2"]
    refine += ["--seed", "3", "--diffusion-model", str(tiny_model_dir)]
    assert main([*args, *refine, "--out", str(refined)]) == 0
    with Image.open(refined) as image:
        pixels = np.asarray(image.convert("RGB"))
        note = image.text["postprocessing"]
    assert pixels.shape == (96, 128, 3)
    assert np.abs(pixels.astype(int) - np.asarray(Image.open(plain).convert("RGB"))).mean() > 1
    assert 'Tiled refine: "a red circle", strength 0.5, steps 2, seed 3, tile 64' in note


def test_refine_options_are_checked_before_any_work(tmp_path, capsys):
    source = str(_source(tmp_path))
    assert main(["upscale", source, "--scale", "2", "--refine"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: --refine needs --prompt (what the picture shows)."
    )
    assert main(["upscale", source, "--scale", "2", "--prompt", "x"]) == 2
    assert "--prompt is for --refine" in capsys.readouterr().err
    assert (
        main(["upscale", source, "--scale", "2", "--refine", "--prompt", "x", "--strength", "0"])
        == 2
    )
    assert "strength" in capsys.readouterr().err
