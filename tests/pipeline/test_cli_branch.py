"""`generate --save-latents DIR` and `--branch-from DIR --step K` with the bundled model; the
files in DIR are treated as hostile."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import save_file

from pipeline.cli import main

PROMPT = "a large red circle, blue background"


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """One run of 6 Euler a steps with its latents saved: (folder, image path)."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("saved")
    out = root / "orig.png"
    args = ["--seed", "5", "--steps", "6", "--sampler", "euler_a", "--quiet"]
    code = main(["generate", "--prompt", PROMPT, *args, "--save-latents", str(root / "lat"),
                 "--out", str(out)])  # fmt: skip
    assert code == 0
    return root / "lat", out


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def branch(folder: Path, out: Path, *extra: str) -> int:
    return main(["generate", "--prompt", PROMPT, "--branch-from", str(folder), "--out", str(out),
                 "--quiet", *extra])  # fmt: skip


def test_each_step_is_a_safetensors_file_with_what_it_belongs_to(saved):
    folder, _ = saved
    assert sorted(p.name for p in folder.iterdir()) == [
        f"step-{k:04d}.safetensors" for k in range(1, 7)
    ]  # and no temporary file is left behind
    with safe_open(str(folder / "step-0003.safetensors"), framework="pt") as handle:
        meta = json.loads(handle.metadata()["point"])
        latents = handle.get_tensor("latents")
    assert latents.shape == (1, 4, 16, 16)
    assert {k: meta[k] for k in ("step", "total", "sampler", "steps", "width", "height", "seed",
                                 "model_name")} == {
        "step": 3, "total": 6, "sampler": "euler_a", "steps": 6, "width": 64, "height": 64,
        "seed": 5, "model_name": "brushwork-shapes",
    }  # fmt: skip
    assert len(meta["model_hash"]) == 64


def test_branching_from_a_saved_step_repeats_the_image_or_changes_it(saved, tmp_path, capsys):
    folder, original = saved
    assert branch(folder, tmp_path / "same.png", "--step", "3") == 0
    assert np.array_equal(pixels(tmp_path / "same.png"), pixels(original))
    assert "seed=5" in capsys.readouterr().out  # the saved run's seed by default
    assert main(["generate", "--prompt", "a small green square, yellow background",
                 "--branch-from", str(folder), "--step", "3", "--out",
                 str(tmp_path / "other.png"), "--quiet"]) == 0  # fmt: skip
    assert not np.array_equal(pixels(tmp_path / "other.png"), pixels(original))
    info = capsys.readouterr()
    assert main(["info", "--json", str(tmp_path / "other.png")]) == 0
    said = json.loads(capsys.readouterr().out)
    assert said["branch"] == {"step": 3, "of": 6, "seed": 5, "prompt": PROMPT}
    assert info.err == ""


def copy_with(source: Path, target: Path, tensors=None, meta=None) -> None:
    with safe_open(str(source), framework="pt") as handle:
        data = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
        metadata = dict(handle.metadata())
    data.update(tensors or {})
    for key, change in (meta or {}).items():
        metadata[key] = change(metadata[key])
    target.parent.mkdir(parents=True, exist_ok=True)
    save_file(data, str(target), metadata=metadata)


def point_meta(**changes):
    return lambda text: json.dumps({**json.loads(text), **changes})


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--step", "3", "--sampler", "ddim"], "sampler euler_a; this request asks for ddim"),
        (["--step", "3", "--width", "128"], "made with width 64; this request asks for 128"),
        (["--step", "3", "--steps", "9"], "made with steps 6"),
        (["--step", "6"], "Step 6 is the saved run's last step"),
        (["--step", "7"], "No latents of step 7 in .* \\(it has steps 1–6\\)"),
        (["--step", "0"], "--step must be between 1 and 9999"),
        ([], "--branch-from needs --step K"),
        (["--step", "3", "--init", "{orig}"], "leave out --init"),
    ],
)  # fmt: skip
def test_mismatches_are_refused_with_one_line(saved, tmp_path, capsys, args, message):
    folder, original = saved
    args = [a.replace("{orig}", str(original)) for a in args]
    assert branch(folder, tmp_path / "x.png", *args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    assert re.search(message, err), err
    assert not (tmp_path / "x.png").exists()


def test_another_model_is_refused_by_name(saved, tiny_model_dir, tmp_path, capsys):
    folder, _ = saved
    assert branch(folder, tmp_path / "x.png", "--step", "2", "--model", str(tiny_model_dir)) == 2
    err = capsys.readouterr().err
    assert "made with the model brushwork-shapes" in err and "tiny-sd" in err


def test_step_without_branch_from_is_refused(capsys):
    assert main(["generate", "--prompt", "x", "--step", "3"]) == 2
    assert "--step goes with --branch-from" in capsys.readouterr().err


def hostile(saved, tmp_path: Path, **kwargs) -> Path:
    folder, _ = saved
    target = tmp_path / "evil"
    copy_with(folder / "step-0003.safetensors", target / "step-0003.safetensors", **kwargs)
    return target


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"meta": {"format": lambda _: "other"}}, "does not say format brushwork-latents"),
        ({"meta": {"point": point_meta(seed=-4)}}, "seed must be between"),
        ({"meta": {"point": point_meta(sampler="rm -rf")}}, "Unknown sampler"),
        ({"meta": {"point": point_meta(step=2)}}, "it says step 2 of 6"),
        ({"meta": {"point": point_meta(batch_size=2)}}, "other tensors than a step's"),
        ({"tensors": {"extra": torch.zeros(2)}}, "other tensors than a step's"),
        ({"tensors": {"latents": torch.zeros(1, 4, 8, 8)}}, "this model at 64×64 makes"),
        ({"tensors": {"latents": torch.full((1, 4, 16, 16), float("nan"))}}, "NaN"),
        ({"tensors": {"generator.0": torch.zeros(7, dtype=torch.uint8)}}, "generator state"),
        ({"meta": {"state": lambda _: json.dumps({"step": {"value": 1}})}},
         "names 'step', which this sampler does not have"),
        ({"meta": {"state": lambda _: json.dumps({"_step_index": {"value": "x"}})}},
         "not a number"),
        ({"meta": {"state": lambda _: "[" * 100_000}}, "'state' metadata is not JSON"),
    ],
)  # fmt: skip
def test_hostile_files_are_refused_by_name(saved, tmp_path, capsys, kwargs, message):
    folder = hostile(saved, tmp_path, **kwargs)
    assert branch(folder, tmp_path / "x.png", "--step", "3") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err, err
    assert not (tmp_path / "x.png").exists()


def test_files_outside_the_folder_or_not_safetensors_are_refused(saved, tmp_path, capsys):
    folder, _ = saved
    outside = tmp_path / "outside.safetensors"
    copy_with(folder / "step-0002.safetensors", outside)
    links = tmp_path / "links"
    links.mkdir()
    (links / "step-0002.safetensors").symlink_to(outside)
    (links / "step-0004.safetensors").write_bytes(b"\x80\x04 a pickle, or anything else")
    assert branch(links, tmp_path / "x.png", "--step", "2") == 2
    assert "leads outside" in capsys.readouterr().err
    assert branch(links, tmp_path / "x.png", "--step", "4") == 2
    assert "not a readable safetensors file" in capsys.readouterr().err


def test_inpaint_cannot_save_latents_and_says_why(tmp_path, capsys):
    image = tmp_path / "in.png"
    Image.new("RGB", (64, 64), (0, 0, 200)).save(image)
    code = main(["generate", "--prompt", "x", "--init", str(image), "--mask", str(image),
                 "--save-latents", str(tmp_path / "lat")])  # fmt: skip
    assert code == 2
    assert "Inpaint runs cannot be branched" in capsys.readouterr().err
    assert not (tmp_path / "lat").exists()
