"""Tiled refine: tile placement, feathered blending, progress, cancel, and its seams against
naive edge-to-edge tiles (pipeline.seams.seam_metric on the tile borders)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from pipeline import Cancelled, GenerationRequest, Mode
from pipeline.errors import RequestError
from pipeline.seams import seam_metric
from pipeline.tiled_refine import _feather, plan_tiles, refine_tiled


def base(model_dir, **changes):
    fields = dict(prompt="a red circle", width=64, height=64, steps=2, seed=5, strength=0.5)
    return GenerationRequest(**{**fields, "model": str(model_dir), **changes})


def picture(size: int = 112) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size]
    smooth = np.stack([xx * 2, yy * 2, (xx + yy) % 256], axis=-1)
    return np.clip(smooth, 0, 255).astype(np.uint8)


def border_mask(height: int, width: int, xs, ys, size: int) -> np.ndarray:
    """A checkerboard of the tiles' cells, so every tile edge is a mask border."""
    cols = np.searchsorted(np.array(xs), np.arange(width), side="right")
    rows = np.searchsorted(np.array(ys), np.arange(height), side="right")
    return np.where((rows[:, None] + cols[None, :]) % 2, 255, 0).astype(np.uint8)


def test_tiles_cover_the_image_evenly_and_the_last_one_ends_at_the_edge():
    tiles = plan_tiles(160, 100, 64, 16)
    assert (tiles.xs, tiles.ys, tiles.count) == ((0, 48, 96), (0, 36), 6)
    assert plan_tiles(112, 64, 64, 24).xs == (0, 24, 48)  # spread evenly, not (0, 40, 48)
    assert plan_tiles(128, 64, 64, 0).xs == (0, 64)
    with pytest.raises(RequestError, match=r"image \(60×200\) is smaller than one refine tile"):
        plan_tiles(60, 200, 64, 16)
    with pytest.raises(RequestError, match="overlap must be 0 to 32 px \\(got 40\\)"):
        plan_tiles(200, 200, 64, 40)


def test_the_feather_rises_only_towards_tiles_refined_before():
    tiles = plan_tiles(160, 160, 64, 16)
    assert np.all(_feather(tiles, 0, 0) == 1)
    right = _feather(tiles, 48, 0)
    assert right[:, 0].max() < 0.05 and np.all(right[:, 16:] == 1)
    assert np.all(np.diff(right[0, :16]) > 0)
    below = _feather(tiles, 0, 48)
    assert below[0].max() < 0.05 and np.all(below[16:] == 1)


def test_naive_tiles_are_each_exactly_the_img2img_of_their_crop(engine, tiny_model_dir):
    image = picture(128)
    out = refine_tiled(engine, image, base(tiny_model_dir), overlap=0)
    crop = image[64:128, 0:64]
    alone = engine.run(base(tiny_model_dir, mode=Mode.IMG2IMG, init_image=crop))[0].image
    assert np.array_equal(out[64:128, 0:64], alone)
    assert np.abs(out.astype(int) - image).mean() > 1  # it was re-diffused


def test_overlapping_tiles_show_less_seam_than_naive_tiles(engine, tiny_model_dir):
    image = picture()
    naive = refine_tiled(engine, image, base(tiny_model_dir), overlap=0)
    blended = refine_tiled(engine, image, base(tiny_model_dir), overlap=24)
    grid = plan_tiles(112, 112, 64, 0)
    tiles = plan_tiles(112, 112, 64, 24)
    naive_seam = seam_metric(naive, border_mask(112, 112, grid.xs[1:], grid.ys[1:], 64))
    blended_seam = seam_metric(blended, border_mask(112, 112, tiles.xs[1:], tiles.ys[1:], 64))
    # The tiny model's output is noise-like texture, so even naive seams are only ~1.3 times the
    # pixel-to-pixel variation; feathered tiles bring them down to that variation (~1.0).
    assert blended_seam < 0.85 * naive_seam and blended_seam < 1.05, (blended_seam, naive_seam)


def test_progress_per_tile_and_cancel(engine, tiny_model_dir):
    seen = []
    refine_tiled(engine, picture(), base(tiny_model_dir, steps=2), 24, lambda *a: seen.append(a))
    assert seen == [(i, 9) for i in range(1, 10)]  # starts 0, 24, 48 each way
    cancel = threading.Event()
    with pytest.raises(Cancelled, match="unchanged"):
        refine_tiled(
            engine, picture(), base(tiny_model_dir, steps=2), 24, lambda d, n: cancel.set(), cancel
        )


def test_an_upscale_job_with_refine_says_what_it_did(engine, tiny_model_dir):
    from pipeline.upscale_job import UpscaleJob, run_upscale_job

    job = UpscaleJob(picture(40), 4, refine=base(tiny_model_dir, steps=1), overlap=16)
    phases: list[tuple[str, int, int]] = []
    outcome = run_upscale_job(engine, job, lambda *p: phases.append(p), threading.Event())
    tile = engine.load(str(tiny_model_dir)).native_size or 512
    refine_tiles = plan_tiles(160, 160, tile, 16).count
    assert outcome.image.shape == (160, 160, 3)
    assert (outcome.upscale_tiles, outcome.refine_tiles) == (1, refine_tiles)
    assert phases[0] == ("upscale", 1, 1) and phases[-1] == ("refine", refine_tiles, refine_tiles)
    assert outcome.summary() == (
        f"Upscaled ×4 with brushwork-shapes-x4 (1 tile), refined in {refine_tiles} tiles"
    )
