"""Mask geometry and compositing: exact pixel counts, snapping, bit-identical paste-back."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.masks import (
    Box,
    bounding_box,
    cover_cells,
    distance_to,
    extend_canvas,
    feather_mask,
    grow_mask,
    inpaint_region,
    paste_back,
)


def square(size=32, top=8, left=8, side=10):
    mask = np.zeros((size, size), np.uint8)
    mask[top : top + side, left : left + side] = 255
    return mask


def count(mask):
    return int((mask == 255).sum())


def test_distance_is_euclidean_and_capped():
    target = np.zeros((9, 9), bool)
    target[4, 4] = True
    distance = distance_to(target, 3)
    assert distance[4, 4] == 0 and distance[4, 7] == 3
    assert distance[2, 2] == pytest.approx(np.sqrt(8))
    assert distance[0, 0] == 4  # farther than the limit: limit + 1
    assert (distance_to(np.zeros((4, 4), bool), 2) == 3).all()


@pytest.mark.parametrize(
    ("pixels", "expected"),
    [(0, 100), (1, 140), (2, 100 + 4 * 20 + 4 * 1), (-2, 36), (-5, 0), (-1, 64)],
)
def test_grow_and_shrink_pixel_counts(pixels, expected):
    # A disc of radius 2 around each corner adds one diagonal pixel (1,1) per corner.
    assert count(grow_mask(square(), pixels)) == expected


def test_grow_a_single_pixel_gives_a_disc():
    mask = np.zeros((16, 16), np.uint8)
    mask[8, 8] = 255
    assert count(grow_mask(mask, 2)) == 13  # (dx, dy) with dx² + dy² ≤ 4
    assert count(grow_mask(mask, 3)) == 29


def test_soft_mask_values_are_thresholded_at_128():
    mask = np.array([[0, 127, 128, 255]], np.uint8)
    assert grow_mask(mask, 0).tolist() == [[0, 0, 255, 255]]


def test_shrink_keeps_a_mask_that_touches_the_image_border():
    mask = np.zeros((16, 16), np.uint8)
    mask[:, :6] = 255
    shrunk = grow_mask(mask, -2)
    assert shrunk[:, :4].all() and not shrunk[:, 4:].any()


def test_feather_is_one_inside_monotone_outside_and_zero_beyond_the_radius():
    mask = square(size=40, top=15, left=15, side=10)
    alpha = feather_mask(mask, 5)
    assert alpha.dtype == np.float32
    assert (alpha[mask == 255] == 1).all()
    row = alpha[20, :15][::-1]  # walking away from the mask's left edge
    assert (np.diff(row) <= 0).all() and (row[:5] > 0).all() and (row[5:] == 0).all()
    distance = distance_to(mask == 255, 10)
    assert (alpha[distance > 5] == 0).all() and (alpha[(distance > 0) & (distance <= 5)] < 1).all()
    assert np.array_equal(feather_mask(mask, 0), (mask == 255).astype(np.float32))


def test_bounding_box():
    assert bounding_box(square()) == Box(8, 8, 10, 10)
    assert bounding_box(np.zeros((4, 4), np.uint8)) is None


def test_region_is_padded_snapped_outward_and_clamped():
    assert inpaint_region(square(64, 10, 20, 5), 3, (64, 64)) == Box(16, 0, 16, 24)
    assert inpaint_region(square(64, 58, 58, 5), 32, (64, 64)) == Box(24, 24, 40, 40)
    assert inpaint_region(np.zeros((64, 64), np.uint8), 8, (64, 64)) == Box(0, 0, 64, 64)


def test_region_follows_the_generation_aspect_when_asked():
    box = inpaint_region(square(128, 60, 60, 4), 4, (128, 128), aspect=2.0)
    assert box.width == 2 * box.height
    assert box.x <= 56 and box.x + box.width >= 68  # still holds mask + padding


@settings(max_examples=80, deadline=None)
@given(
    width=st.integers(8, 80),
    height=st.integers(8, 80),
    data=st.data(),
    padding=st.integers(0, 40),
    aspect=st.one_of(st.none(), st.floats(0.25, 4.0)),
)
def test_region_properties(width, height, data, padding, aspect):
    x0 = data.draw(st.integers(0, width - 1))
    y0 = data.draw(st.integers(0, height - 1))
    x1 = data.draw(st.integers(x0, width - 1))
    y1 = data.draw(st.integers(y0, height - 1))
    mask = np.zeros((height, width), np.uint8)
    mask[y0 : y1 + 1, x0 : x1 + 1] = 255
    box = inpaint_region(mask, padding, (width, height), aspect=aspect)
    right, bottom = box.x + box.width, box.y + box.height
    assert box.x >= 0 and box.y >= 0 and right <= width and bottom <= height
    assert box.x % 8 == 0 and box.y % 8 == 0
    assert right % 8 == 0 or right == width
    assert bottom % 8 == 0 or bottom == height
    assert box.x <= max(0, x0 - padding) and right >= min(width, x1 + 1 + padding)
    assert box.y <= max(0, y0 - padding) and bottom >= min(height, y1 + 1 + padding)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), radius=st.integers(0, 6))
def test_paste_back_keeps_every_pixel_with_zero_alpha_bit_identical(seed, radius):
    rng = np.random.default_rng(seed)
    original = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
    generated = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
    mask = (rng.random((24, 24)) > 0.97).astype(np.uint8) * 255
    alpha = feather_mask(mask, radius)
    result = paste_back(original, generated, alpha)
    assert np.array_equal(result[alpha == 0], original[alpha == 0])
    assert np.array_equal(result[alpha == 1], generated[alpha == 1])
    between = (alpha > 0) & (alpha < 1)
    low = np.minimum(original, generated)[between]
    high = np.maximum(original, generated)[between]
    assert ((result[between] >= low) & (result[between] <= high)).all()


def test_extend_canvas_sizes_placement_and_mask():
    image = np.random.default_rng(1).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    canvas, mask = extend_canvas(image, left=8, top=0, right=16, bottom=4)
    assert canvas.shape == (24, 54, 3) and mask.shape == (24, 54)
    assert np.array_equal(canvas[0:20, 8:38], image)  # old pixels exact, at the offset
    assert not mask[0:20, 8:38].any() and (mask[:, :8] == 255).all()
    assert (mask[:, 38:] == 255).all() and (mask[20:, :] == 255).all()
    # Pre-fill continues the edge colours: the new left strip is close to the old left column.
    left_edge = image[:, 0].astype(float).mean(axis=0)
    assert np.abs(canvas[0:20, 0:8].astype(float).mean(axis=(0, 1)) - left_edge).max() < 40


def test_extend_canvas_overlap_reaches_into_the_extended_sides_only():
    image = np.zeros((16, 16, 3), np.uint8)
    _canvas, mask = extend_canvas(image, left=8, top=0, right=0, bottom=0, overlap=3)
    assert (mask[:, :11] == 255).all() and not mask[:, 11:].any()
    with pytest.raises(ValueError):
        extend_canvas(image, -1, 0, 0, 0)


def test_cover_cells_widens_the_mask_to_whole_latent_cells():
    mask = np.zeros((24, 20), np.uint8)
    mask[3:5, 9] = 255  # a thin stroke, off the cell grid
    covered = cover_cells(mask)
    assert (covered[0:8, 8:16] == 255).all() and count(covered) == 64
    # What diffusers keeps after nearest-neighbour downsampling (one pixel per cell):
    assert covered[::8, ::8].sum() == 255
    assert (cover_cells(np.zeros((4, 4), np.uint8)) == 0).all()


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16), limit=st.integers(1, 7), density=st.floats(0.0, 0.2))
def test_distance_matches_brute_force_within_the_limit(seed, limit, density):
    rng = np.random.default_rng(seed)
    target = rng.random((13, 17)) < density
    distance = distance_to(target, limit)
    ys, xs = np.nonzero(target)
    for y, x in np.ndindex(target.shape):
        exact = np.sqrt((ys - y) ** 2 + (xs - x) ** 2).min() if ys.size else np.inf
        expected = exact if exact <= limit else limit + 1
        assert distance[y, x] == pytest.approx(expected, abs=1e-5)
