"""Upscale models through spandrel: loading safely, tiling without seams, progress, cancel,
and every refusal (pickle, damaged file, unknown architecture, bad factor, oversized output)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from pipeline import upscale as upscale_module
from pipeline.errors import Cancelled, ImageInputError, ModelError
from pipeline.upscale import check_output_size, load_upscaler, resolve_upscaler
from tests.tiny_upscaler import (
    compact_state,
    esrgan_state,
    nearest_compact_state,
    save_model,
)


def _image(height: int = 50, width: int = 70, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


@pytest.fixture
def compact(tmp_path: Path) -> Path:
    return save_model(compact_state(), tmp_path / "compact-x4.safetensors")


def test_a_zero_residual_compact_model_upscales_like_nearest_neighbour(tmp_path: Path) -> None:
    upscaler = load_upscaler(save_model(nearest_compact_state(), tmp_path / "n.safetensors"))
    image = _image()
    out = upscaler.upscale(image, 4, tile=16)
    assert upscaler.scale == 4 and upscaler.architecture == "RealESRGAN Compact"
    assert np.array_equal(out, image.repeat(4, axis=0).repeat(4, axis=1))


def test_tiles_with_overlap_match_the_whole_image_and_naive_tiles_do_not(
    compact: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    upscaler = load_upscaler(compact)
    image = _image()
    whole = upscaler.upscale(image, 4, tile=1000)
    tiled = upscaler.upscale(image, 4, tile=16)
    assert tiled.shape == (200, 280, 3)
    assert np.array_equal(tiled, whole)
    monkeypatch.setattr(upscale_module, "OVERLAP", 0)
    naive = upscaler.upscale(image, 4, tile=16)
    assert np.abs(naive.astype(int) - whole).max() > 10  # seams at the tile borders


def test_a_factor_below_the_models_scale_runs_the_model_then_scales_each_tile_down(
    compact: Path,
) -> None:
    upscaler = load_upscaler(compact)
    image = _image()
    x4 = upscaler.upscale(image, 4, tile=1000)
    x2 = upscaler.upscale(image, 2, tile=16)
    assert x2.shape == (100, 140, 3)
    from PIL import Image

    expected = np.asarray(Image.fromarray(x4).resize((140, 100), Image.LANCZOS))
    assert np.abs(x2.astype(int) - expected).max() <= 2  # Lanczos near tile borders only


def test_a_factor_above_the_models_scale_runs_the_model_twice(tmp_path: Path) -> None:
    upscaler = load_upscaler(save_model(nearest_compact_state(2), tmp_path / "x2.safetensors"))
    image = _image(10, 12)
    out = upscaler.upscale(image, 4, tile=8)
    assert np.array_equal(out, image.repeat(4, axis=0).repeat(4, axis=1))


def test_esrgan_loads_and_runs(tmp_path: Path) -> None:
    upscaler = load_upscaler(save_model(esrgan_state(), tmp_path / "esrgan.safetensors"))
    out = upscaler.upscale(_image(20, 24), 4, tile=16)
    assert upscaler.architecture == "ESRGAN" and out.shape == (80, 96, 3)
    assert out.std() > 0


def test_progress_is_reported_per_tile(compact: Path) -> None:
    seen: list[tuple[int, int]] = []
    load_upscaler(compact).upscale(_image(40, 40), 2, on_tile=lambda d, n: seen.append((d, n)))
    assert seen == [(1, 1)]
    seen.clear()
    load_upscaler(compact).upscale(_image(40, 40), 2, on_tile=lambda *a: seen.append(a), tile=16)
    assert seen == [(i, 9) for i in range(1, 10)]


def test_cancel_between_tiles_stops_the_upscale(compact: Path) -> None:
    cancel = threading.Event()
    done: list[int] = []

    def on_tile(finished: int, total: int) -> None:
        done.append(finished)
        if finished == 2:
            cancel.set()

    with pytest.raises(Cancelled, match="unchanged"):
        load_upscaler(compact).upscale(_image(), 4, on_tile=on_tile, cancel=cancel, tile=16)
    assert done == [1, 2]


def test_a_pickle_file_needs_the_opt_in_and_then_loads_weights_only(tmp_path: Path) -> None:
    path = save_model(compact_state(), tmp_path / "model.pth")
    with pytest.raises(ModelError, match="pickle file, which can run code"):
        load_upscaler(path)
    assert load_upscaler(path, allow_pickle=True).scale == 4


class _Payload:
    def __reduce__(self):
        return (print, ("owned",))


def test_a_pickle_with_code_is_refused_even_with_the_opt_in(tmp_path: Path) -> None:
    path = tmp_path / "evil.pth"
    torch.save({"body.0.weight": torch.zeros(1), "x": _Payload()}, path)
    with pytest.raises(ModelError, match="more than plain weights"):
        load_upscaler(path, allow_pickle=True)


def test_a_truncated_file_is_refused(compact: Path, tmp_path: Path) -> None:
    data = compact.read_bytes()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="damaged or truncated"):
        load_upscaler(cut)


def test_an_unknown_architecture_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "mystery.safetensors"
    save_file({"encoder.weight": torch.zeros(4, 4), "head.bias": torch.zeros(4)}, str(path))
    with pytest.raises(ModelError, match="not one spandrel knows"):
        load_upscaler(path)


def test_a_restoration_model_of_scale_1_is_not_an_upscaler(tmp_path: Path) -> None:
    path = save_model(compact_state(scale=1), tmp_path / "denoise.safetensors")
    with pytest.raises(ModelError, match="restoration model"):
        load_upscaler(path)


@pytest.mark.parametrize("factor", [0, 1, 64, 2.5, True])
def test_bad_factors_are_refused(compact: Path, factor: object) -> None:
    with pytest.raises(ImageInputError, match="factor must be"):
        load_upscaler(compact).upscale(_image(8, 8), factor)  # type: ignore[arg-type]


def test_an_output_over_the_size_limit_is_refused_before_any_work(compact: Path) -> None:
    upscaler = load_upscaler(compact)
    calls: list[object] = []
    upscaler.model = lambda x: calls.append(x)  # any model call would be recorded
    huge = np.broadcast_to(np.zeros(3, np.uint8), (4100, 4100, 3))  # no memory behind it
    with pytest.raises(ImageInputError, match=r"4100×4100 by 4 would make 16400×16400 pixels"):
        upscaler.upscale(huge, 4)
    assert calls == []
    assert check_output_size(2048, 2048, 4) == (8192, 8192)  # exactly 64 megapixels
    with pytest.raises(ImageInputError, match=r"8192×8196 pixels.*64 megapixels"):
        check_output_size(2048, 2049, 4)


def test_an_upscaler_is_found_by_name_in_the_folder(compact: Path) -> None:
    assert resolve_upscaler("compact-x4", compact.parent) == compact
    assert resolve_upscaler("compact-x4.safetensors", compact.parent) == compact
    with pytest.raises(ModelError, match="'nope' not found \\(no such file, nor in "):
        resolve_upscaler("nope", compact.parent)


def test_spandrel_import_leaves_no_torchvision_stand_in_behind() -> None:
    import sys

    from pipeline.spandrel_import import import_spandrel

    assert import_spandrel().__name__ == "spandrel"
    stand_in = sys.modules.get("torchvision")
    assert stand_in is None or getattr(stand_in, "__file__", None) is not None


def test_the_bundled_upscaler_is_the_default_and_beats_bicubic_without_a_grid() -> None:
    import random
    import sys

    from PIL import Image

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
    from shapes_dataset import render, sample_scene

    upscaler = load_upscaler(resolve_upscaler(None))
    assert (upscaler.name, upscaler.scale) == ("brushwork-shapes-x4", 4)
    rng = random.Random(123)
    gains, errors, grids = [], [], []
    for _ in range(4):
        scene = sample_scene(rng, include_held_out=True)
        low, high = np.asarray(render(scene, 64)), np.asarray(render(scene, 256)).astype(float)
        edges = np.abs(np.diff(high.mean(axis=2), axis=1)) > 20
        upscaled = upscaler.upscale(low, 4).astype(float)
        nearest = low.repeat(4, axis=0).repeat(4, axis=1).astype(float)
        bicubic = np.asarray(Image.fromarray(low).resize((256, 256), Image.BICUBIC)).astype(float)
        errors.append([((x - high) ** 2).mean() for x in (upscaled, nearest, bicubic)])
        ours = np.abs(np.diff(upscaled.mean(axis=2), axis=1))
        # The grid: how much more it steps across the borders of its 4×4 output blocks than
        # inside them, in grey levels (the first shipped model's checkerboard: 0.44–0.94).
        across = np.arange(ours.shape[1]) % 4 == 3
        grids.append(ours[:, across].mean() - ours[:, ~across].mean())
        theirs = np.abs(np.diff(bicubic.mean(axis=2), axis=1))
        gains.append(ours[edges].mean() / theirs[edges].mean())
    assert min(gains) > 1.05, gains  # steeper edges than bicubic …
    ours_mse, nearest_mse, bicubic_mse = np.mean(errors, axis=0)
    assert ours_mse < 0.85 * nearest_mse, errors  # … and closer to the render than nearest
    assert ours_mse < 0.9 * bicubic_mse, errors  # … and than bicubic (PSNR above it)
    assert max(grids) < 0.35, grids  # no visible block pattern
