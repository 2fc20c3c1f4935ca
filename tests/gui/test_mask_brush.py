import itertools

import numpy as np
import pytest

from gui.mask_brush import BrushSettings, Stroke, points_between, stamp


def test_hard_stamp_is_a_filled_disc():
    disc = stamp(9, 1.0)
    assert disc.shape == (9, 9)
    assert disc[4, 4] == 1 and disc[4, 0] > 0.4 and disc[0, 0] == 0
    assert disc.sum() == pytest.approx(np.pi * 4.5**2, rel=0.08)


def test_soft_stamp_falls_off_monotonically_from_the_centre():
    disc = stamp(21, 0.0)
    row = disc[10, 10:]
    assert row[0] == pytest.approx(1.0, abs=0.02)
    assert all(a >= b for a, b in itertools.pairwise(row))
    assert row[-1] < 0.05
    half = stamp(21, 0.5)[10, 10:]
    assert (half[:5] > 0.99).all() and half[8] < 0.5


def test_fast_stroke_between_two_events_leaves_no_gap():
    mask = np.zeros((64, 200), np.uint8)
    stroke = Stroke(mask, BrushSettings(size=8, hardness=1.0))
    stroke.to(10, 32)
    box = stroke.to(190, 32)  # one jump of 180 px
    assert (mask[32, 10:191] == 255).all()
    assert mask[32, 0:5].max() == 0 and mask[20, :].max() == 0
    assert box[0] <= 10 and box[2] >= 190


def test_going_over_the_same_spot_does_not_build_up():
    mask = np.zeros((40, 40), np.uint8)
    stroke = Stroke(mask, BrushSettings(size=20, hardness=0.0))
    stroke.to(20, 20)
    once = mask.copy()
    for _ in range(5):
        stroke.to(20.2, 20)
        stroke.to(20, 20)
    assert np.abs(mask.astype(int) - once.astype(int)).max() <= 3


def test_eraser_clears_only_under_the_brush():
    mask = np.full((40, 40), 255, np.uint8)
    stroke = Stroke(mask, BrushSettings(size=10, hardness=1.0, erase=True))
    stroke.to(20, 20)
    assert mask[20, 20] == 0 and mask[0, 0] == 255 and mask[20, 30] == 255
    assert (stroke.before == 255).all()  # the stroke keeps what was there, for undo


def test_stamps_near_the_edge_are_clipped():
    mask = np.zeros((10, 10), np.uint8)
    stroke = Stroke(mask, BrushSettings(size=8, hardness=1.0))
    assert stroke.to(0, 0) == (0, 0, 4, 4)
    assert stroke.to(-50, -50) is None or mask.sum() > 0


def test_points_between_are_evenly_spaced_and_end_on_target():
    points = points_between((0, 0), (10, 0), 2.5)
    assert points == [(2.5, 0), (5.0, 0), (7.5, 0), (10.0, 0)]
    assert points_between((3, 3), (3, 3), 1) == [(3.0, 3.0)]
