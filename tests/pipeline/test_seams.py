"""Seam metric and seam repair on constructed images with a known colour shift."""

import numpy as np
import pytest

from pipeline.masks import feather_mask, paste_back
from pipeline.seams import correct_seam, seam_metric


def textured(size=64, seed=0):
    """A smooth colour ramp with mild noise: texture on both sides of any border."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    base = np.stack([xx * 3.0, yy * 3.0, np.full_like(xx, 128.0)], axis=-1)
    return np.clip(base + rng.normal(0, 3, base.shape), 0, 255).astype(np.uint8)


def rect_mask(size=64, top=16, left=20, height=32, width=32):
    mask = np.zeros((size, size), np.uint8)
    mask[top : top + height, left : left + width] = 255
    return mask


def shifted_inside(image, mask, shift):
    """What plain inpainting gives: the right content inside the mask, with a colour cast."""
    out = image.astype(int)
    out[mask == 255] += np.array(shift)
    return np.clip(out, 0, 255).astype(np.uint8)


def hard_paste(original, generated, mask):
    return np.where((mask == 255)[..., None], generated, original)


def test_metric_is_zero_for_a_flat_image_and_the_step_size_for_a_flat_step():
    flat = np.full((32, 32, 3), 100, np.uint8)
    mask = rect_mask(32, 8, 8, 16, 16)
    assert seam_metric(flat, mask) == 0
    step = flat.copy()
    step[mask == 255] = (110, 100, 100)
    assert seam_metric(step, mask) == pytest.approx(10.0)  # flat sides: cross / (1 + 0)
    assert seam_metric(flat, np.zeros((32, 32), np.uint8)) == 0  # no border at all


def test_metric_grows_with_the_jump_and_is_relative_to_texture():
    original, mask = textured(), rect_mask()
    small = seam_metric(shifted_inside(original, mask, (8, 0, 0)), mask)
    large = seam_metric(shifted_inside(original, mask, (40, 0, 0)), mask)
    assert seam_metric(original, mask) < small < large
    noisy = np.clip(original + np.random.default_rng(3).normal(0, 30, original.shape), 0, 255)
    noisy = noisy.astype(np.uint8)
    assert seam_metric(shifted_inside(noisy, mask, (40, 0, 0)), mask) < large


@pytest.mark.parametrize("shift", [(30, -20, 25), (-40, -40, -40), (12, 0, 0)])
def test_repair_lowers_the_seam_metric_of_a_colour_cast(shift):
    original, mask = textured(), rect_mask()
    generated = shifted_inside(original, mask, shift)
    plain = seam_metric(hard_paste(original, generated, mask), mask)
    repaired = paste_back(original, correct_seam(original, generated, mask), feather_mask(mask, 4))
    untouched = seam_metric(original, mask)  # the texture's own "seam": the best reachable
    assert seam_metric(repaired, mask) < plain
    assert seam_metric(repaired, mask) < 1.05 * untouched


def test_repair_changes_nothing_outside_the_mask_and_fades_with_depth():
    original, mask = textured(size=96), rect_mask(96, 8, 8, 80, 80)
    generated = shifted_inside(original, mask, (30, 30, 30))
    corrected = correct_seam(original, generated, mask, window=4, depth=16)
    outside = mask == 0
    assert np.array_equal(corrected[outside], generated[outside])
    change = np.abs(corrected.astype(int) - generated.astype(int)).sum(axis=-1)
    assert change[48, 9] > 60  # at the border: most of the 90-level cast removed
    assert change[48, 48] == 0  # deeper than `depth`: the model's colours stay


def test_repair_of_a_clean_image_is_a_no_op_and_handles_degenerate_masks():
    original, mask = textured(), rect_mask()
    corrected = correct_seam(original, original, mask)
    assert np.abs(corrected.astype(int) - original.astype(int)).max() <= 3
    full = np.full((64, 64), 255, np.uint8)
    assert np.array_equal(correct_seam(original, original, full), original)
    assert np.array_equal(correct_seam(original, original, np.zeros_like(full)), original)


def test_a_cast_over_the_whole_generated_image_is_removed_in_the_feathered_band_too():
    """A VAE-like cast shifts every generated pixel: without correction the feathered band
    would blend the cast into the original outside the mask."""
    original, mask = textured(), rect_mask()
    generated = np.clip(original.astype(int) + np.array([25, -15, 10]), 0, 255).astype(np.uint8)
    alpha = feather_mask(mask, 4)
    repaired = paste_back(original, correct_seam(original, generated, mask, feather=4), alpha)
    band = (alpha > 0) & (mask == 0)
    error = np.abs(repaired.astype(int) - original.astype(int))
    assert error[band].mean() < 2  # the band now blends like with like
    assert error[mask == 255].mean() < 3  # and the inside lost its cast
    plain = paste_back(original, generated, alpha)
    assert np.abs(plain.astype(int) - original.astype(int))[band].mean() > 5
