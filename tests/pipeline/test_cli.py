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


# --- what people expect of a command line (issue 16, part 2) ---------------------------------


def _args(tiny_model_dir, *extra: str) -> list[str]:
    return ["generate", "--prompt", "a red circle", "--model", str(tiny_model_dir), "--steps",
            "2", "--seed", "5", *extra]  # fmt: skip


def _printed_paths(out: str) -> list[Path]:
    return [Path(line.split("\t")[0]) for line in out.splitlines()]


def test_out_with_a_png_name_writes_exactly_that_file(tiny_model_dir, tmp_path, capsys):
    target = tmp_path / "new" / "result.png"
    assert main(_args(tiny_model_dir, "--quiet", "--out", str(target))) == 0
    assert _printed_paths(capsys.readouterr().out) == [target]
    assert target.is_file() and sorted(p.name for p in target.parent.iterdir()) == ["result.png"]
    assert json.loads(Image.open(target).text["brushwork"])["request"]["seed"] == 5
    # Asked again, the same name is written again (the user named it), not result-1.png.
    assert main(_args(tiny_model_dir, "--quiet", "--seed", "6", "--out", str(target))) == 0
    assert json.loads(Image.open(target).text["brushwork"])["request"]["seed"] == 6
    assert sorted(p.name for p in target.parent.iterdir()) == ["result.png"]


def test_out_with_a_png_name_numbers_the_images_of_a_batch(tiny_model_dir, tmp_path, capsys):
    target = tmp_path / "result.png"
    assert main(_args(tiny_model_dir, "--quiet", "--batch", "3", "--out", str(target))) == 0
    names = ["result-1.png", "result-2.png", "result-3.png"]
    assert _printed_paths(capsys.readouterr().out) == [tmp_path / n for n in names]
    assert sorted(p.name for p in tmp_path.iterdir()) == names
    seeds = [json.loads(Image.open(tmp_path / n).text["brushwork"])["request"]["seed"]
             for n in names]  # fmt: skip
    assert seeds == [5, 6, 7]


def test_out_folder_keeps_timestamped_names_even_when_named_like_a_file(
    tiny_model_dir, tmp_path, capsys
):
    folder = tmp_path / "old.png"  # a folder made by an earlier version of --out x.png
    folder.mkdir()
    assert main(_args(tiny_model_dir, "--quiet", "--out", str(folder))) == 0
    [path] = _printed_paths(capsys.readouterr().out)
    assert path.parent == folder and path.name.endswith("-5.png")
    plain = tmp_path / "images"
    assert main(_args(tiny_model_dir, "--quiet", "--out", str(plain))) == 0
    assert _printed_paths(capsys.readouterr().out)[0].parent == plain


def test_out_with_another_image_type_is_refused_before_loading(tmp_path, capsys):
    code = main(["generate", "--prompt", "x", "--out", str(tmp_path / "result.jpg")])
    assert code == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: --out {tmp_path / 'result.jpg'}: Brushwork writes PNG files (the parameters "
        "are stored in them); give a name ending in .png, or a folder."
    ]
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("mask", [False, True], ids=["img2img", "inpaint"])
def test_init_image_not_a_multiple_of_8_is_generated_at_the_nearest_and_scaled_back(
    tiny_model_dir, tmp_path, capsys, mask
):
    init = tmp_path / "photo.png"
    pixels = np.random.default_rng(1).integers(0, 255, (100, 98, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(init)
    extra = ["--init", str(init), "--out", str(tmp_path / "out.png")]
    if mask:
        masked = np.zeros((100, 98), np.uint8)
        masked[20:60, 30:70] = 255
        Image.fromarray(masked).save(tmp_path / "mask.png")
        extra += ["--mask", str(tmp_path / "mask.png")]
    assert main(_args(tiny_model_dir, *extra)) == 0
    out, err = capsys.readouterr()
    [path] = _printed_paths(out)
    assert Image.open(path).size == (98, 100)  # the init image's own size
    request = json.loads(Image.open(path).text["brushwork"])["request"]
    assert (request["width"], request["height"]) == (96, 104)  # what was generated
    assert ("The init image is 98×100; it is generated at 96×104 (multiples of 8) and the "
            "result is scaled back.") in err.splitlines()  # fmt: skip


def test_init_image_with_a_size_given_keeps_that_size(tiny_model_dir, tmp_path, capsys):
    init = tmp_path / "photo.png"
    Image.fromarray(np.full((100, 100, 3), 90, np.uint8)).save(init)
    args = _args(tiny_model_dir, "--init", str(init), "--width", "64", "--quiet")
    assert main([*args, "--out", str(tmp_path / "o.png")]) == 0
    assert Image.open(tmp_path / "o.png").size == (64, 104)  # the other side snapped to 8
    assert capsys.readouterr().err == ""


def test_quiet_successful_run_prints_nothing_on_stderr(tiny_model_dir, tmp_path):
    """A real run in a fresh interpreter: the libraries' import-time warnings (e.g.
    transformers' three "requires torchvision" lines) must not reach stderr."""
    env_dirs = ("--out", str(tmp_path / "o"))
    done = run_cli(*_args(tiny_model_dir, "--quiet", *env_dirs))
    assert done.returncode == 0 and done.stderr == ""
    assert len(done.stdout.splitlines()) == 1


NOISY_LOAD = """
import logging, sys, warnings
import pipeline.engine
from pipeline.cli import main

original = pipeline.engine.load_text2image

def load(*args, **kwargs):  # model loading that logs and warns as diffusers and transformers do
    logging.getLogger("transformers.utils.import_utils").warning("transformers noise")
    logging.getLogger("diffusers.models.modeling_utils").warning("diffusers noise")
    warnings.warn("a library's own warning", UserWarning, stacklevel=1)
    return original(*args, **kwargs)

pipeline.engine.load_text2image = load
sys.exit(main(sys.argv[1:]))
"""


def run_noisy(tmp_path, *args):
    script = tmp_path / "noisy.py"
    script.write_text(NOISY_LOAD)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_STATE_HOME": str(tmp_path / "state")}
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=300)  # fmt: skip


def test_library_warnings_go_to_the_log_file_not_stderr(tiny_model_dir, tmp_path):
    done = run_noisy(tmp_path, *_args(tiny_model_dir, "--out", str(tmp_path / "o")))
    assert done.returncode == 0, done.stderr
    assert "noise" not in done.stderr and "own warning" not in done.stderr
    assert "step 2/2" in done.stderr  # the run's own progress is still shown
    log = (tmp_path / "state" / "Brushwork" / "log" / "cli.log").read_text()
    assert "transformers noise" in log and "diffusers noise" in log and "own warning" in log


def test_verbose_shows_library_warnings(tiny_model_dir, tmp_path):
    done = run_noisy(tmp_path, *_args(tiny_model_dir, "--verbose", "--out", str(tmp_path / "o")))
    assert done.returncode == 0, done.stderr
    assert "transformers noise" in done.stderr and "diffusers noise" in done.stderr
    assert not (tmp_path / "state").exists()


def _disk_refuses(monkeypatch):
    import pipeline.saving
    from pipeline.errors import OutputError

    def refuse(*_args, **_kwargs):
        raise OutputError("Could not write the image to /out: No space left on device.")

    monkeypatch.setattr(pipeline.saving, "write_png", refuse)


def test_progress_line_ends_before_an_error(tiny_model_dir, tmp_path, capsys, monkeypatch):
    _disk_refuses(monkeypatch)
    assert main(_args(tiny_model_dir, "--out", str(tmp_path / "o"))) == 2
    err = capsys.readouterr().err
    assert "step 2/2\nerror: Could not write the image" in err
    assert [line for line in err.splitlines() if "error" in line] == [
        "error: Could not write the image to /out: No space left on device. The images are lost."
    ]


def test_quiet_failed_run_prints_one_error_line(tiny_model_dir, tmp_path, capsys, monkeypatch):
    _disk_refuses(monkeypatch)
    assert main(_args(tiny_model_dir, "--quiet", "--out", str(tmp_path / "o"))) == 2
    assert capsys.readouterr().err == (
        "error: Could not write the image to /out: No space left on device. The images are lost.\n"
    )
