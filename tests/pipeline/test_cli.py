"""The CLI as a user runs it: exit codes, one-line errors, files written, info read back."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.cli import main

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args, cwd=ROOT):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        capture_output=True, text=True, cwd=cwd, env=env, timeout=300,
    )  # fmt: skip


def test_generate_then_info_round_trip(tiny_model_dir, tmp_path):
    out = tmp_path / "out"
    done = run_cli(
        "generate", "--prompt", "a red circle", "--negative", "blue", "--model",
        str(tiny_model_dir), "--sampler", "dpmpp_2m_karras", "--steps", "3", "--cfg", "6",
        "--seed", "1234", "--width", "64", "--height", "64", "--batch", "2", "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 2
    paths = [Path(line.split("\t")[0]) for line in lines]
    assert [line.split("\t")[1] for line in lines] == ["seed=1234", "seed=1235"]
    assert all(p.is_file() and p.parent == out for p in paths)
    assert "step 3/3" in done.stderr

    info = run_cli("info", str(paths[1]), "--json")
    assert info.returncode == 0, info.stderr
    data = json.loads(info.stdout)
    assert {
        k: data[k]
        for k in (
            "prompt",
            "negative_prompt",
            "steps",
            "sampler",
            "guidance",
            "seed",
            "width",
            "height",
            "model",
        )
    } == {
        "prompt": "a red circle",
        "negative_prompt": "blue",
        "steps": 3,
        "sampler": "dpmpp_2m_karras",
        "guidance": 6.0,
        "seed": 1235,
        "width": 64,
        "height": 64,
        "model": "tiny-sd",
    }


def test_bad_input_exits_2_with_one_line_and_no_traceback(tiny_model_dir):
    done = run_cli("generate", "--prompt", "x", "--width", "100", "--model", str(tiny_model_dir))
    assert done.returncode == 2
    assert done.stderr.strip() == "error: width must be a multiple of 8 (got 100); try 96 or 104."
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sampler", "nope"], "Unknown sampler 'nope'"),
        (["--height", "0"], "height must be between"),
        (["--model", "/no/such/model.safetensors"], "Model file not found"),
        (["--model", "bad name with spaces"], "not found"),
        (["--init", "/no/such.png"], "Image not found"),
        (["--mask", "{mask}"], "--mask needs --init"),
        (["--steps", "ten"], "invalid int value"),
    ],
)
def test_each_bad_input_has_a_specific_message(args, message, tmp_path, capsys):
    mask = tmp_path / "mask.png"
    Image.new("L", (64, 64)).save(mask)
    args = [a.replace("{mask}", str(mask)) for a in args]
    with pytest.raises(SystemExit) if "ten" in args else _no_raise():
        code = main(["generate", "--prompt", "x", *args])
        assert code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


class _no_raise:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_unreadable_model_folder_exits_2(tmp_path, capsys):
    folder = tmp_path / "half-model"
    folder.mkdir()
    (folder / "model_index.json").write_text("{not json")
    assert main(["generate", "--prompt", "x", "--model", str(folder), "--width", "64",
                 "--height", "64", "--out", str(tmp_path)]) == 2  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: Could not load model 'half-model'")
    assert len(err.splitlines()) == 1


def test_init_image_sets_the_default_size_and_mode(engine, tiny_model_dir, tmp_path, capsys):
    init = tmp_path / "init.png"
    Image.fromarray(np.full((72, 64, 3), 90, np.uint8)).save(init)
    code = main(["generate", "--prompt", "x", "--model", str(tiny_model_dir), "--init",
                 str(init), "--steps", "2", "--quiet", "--out", str(tmp_path / "o")])  # fmt: skip
    assert code == 0
    path = Path(capsys.readouterr().out.split("\t")[0])
    data = json.loads(Image.open(path).text["brushwork"])["request"]
    assert (data["mode"], data["width"], data["height"]) == ("img2img", 64, 72)


def _generated_size(capsys) -> tuple[int, int]:
    path = Path(capsys.readouterr().out.split("\t")[0])
    data = json.loads(Image.open(path).text["brushwork"])["request"]
    assert Image.open(path).size == (data["width"], data["height"])
    return data["width"], data["height"]


def test_txt2img_defaults_to_the_models_native_size(engine, tiny_model_dir, tmp_path, capsys):
    # the tiny model: UNet sample_size 8 × VAE scale factor 8
    args = ["generate", "--prompt", "x", "--model", str(tiny_model_dir), "--steps", "1",
            "--quiet", "--out", str(tmp_path / "o")]  # fmt: skip
    assert main(args) == 0
    assert _generated_size(capsys) == (64, 64)
    assert main([*args, "--width", "96"]) == 0
    assert _generated_size(capsys) == (96, 64)  # the missing side is the model's too


def test_the_bundled_model_generates_at_64_by_default(tmp_path, capsys):
    args = ["generate", "--prompt", "a red circle, blue background", "--steps", "2",
            "--seed", "1", "--quiet", "--out", str(tmp_path)]  # fmt: skip
    assert main(args) == 0
    assert _generated_size(capsys) == (64, 64)


def test_samplers_and_info_errors(tmp_path, capsys):
    assert main(["samplers"]) == 0
    out = capsys.readouterr().out
    assert "euler_a" in out and "DPM++ 2M Karras" in out
    plain = tmp_path / "plain.png"
    Image.new("RGB", (4, 4)).save(plain)
    assert main(["info", str(plain)]) == 2
    assert "holds no generation parameters" in capsys.readouterr().err


def test_inspect_names_the_detected_family(tiny_model_dir, tmp_path, capsys):
    import torch
    from safetensors.torch import save_file

    unet = {"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(2, 4, 1, 1)}
    xl = tmp_path / "my-xl.safetensors"
    save_file({**unet, "conditioner.embedders.1.model.ln_final.weight": torch.zeros(1)}, str(xl))
    assert main(["inspect", str(xl)]) == 0
    assert capsys.readouterr().out == "my-xl\tSDXL base checkpoint\n"
    assert main(["inspect", str(tiny_model_dir)]) == 0
    assert capsys.readouterr().out == "tiny-sd\tdiffusers folder\n"
    lora = tmp_path / "lora.safetensors"
    save_file({"lora_unet_down.weight": torch.zeros(1)}, str(lora))
    assert main(["inspect", str(lora)]) == 2
    assert "does not look like a Stable Diffusion checkpoint" in capsys.readouterr().err


def test_generate_says_which_family_a_single_file_is(tiny_model_dir, tmp_path, capsys,
                                                     monkeypatch):  # fmt: skip
    import shutil

    from tests.ldm_checkpoint import save_ldm_checkpoint

    checkpoint = save_ldm_checkpoint(tiny_model_dir, tmp_path / "tiny.safetensors")
    configs = tmp_path / "resources" / "model_configs" / "sd1"  # tiny stand-in for SD 1.5's
    shutil.copytree(tiny_model_dir, configs, ignore=shutil.ignore_patterns("*.safetensors"))
    monkeypatch.setattr("pipeline.models.resources_dir", lambda: tmp_path / "resources")
    code = main(["generate", "--prompt", "x", "--model", str(checkpoint), "--steps", "2",
                 "--width", "64", "--height", "64", "--out", str(tmp_path / "o")])  # fmt: skip
    assert code == 0
    assert "model: tiny (SD 1.x checkpoint)" in capsys.readouterr().err.splitlines()
