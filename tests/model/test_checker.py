"""The evaluation checker must be right on ground truth before it may judge the model."""

from __future__ import annotations

import random

import numpy as np
import shapes_checker as ck
import shapes_dataset as ds
from evaluate_bundled_model import ATTRS, checker_on_ground_truth


def test_checker_scores_at_least_95_percent_on_ground_truth() -> None:
    acc = checker_on_ground_truth(n=150, seed=3)
    for attr in ATTRS:
        assert acc[attr] >= 0.95, (attr, acc)


def test_checker_reads_a_known_render() -> None:
    scene = ds.scene_from_words("red", "star", "large", "right", "blue", random.Random(1))
    det = ck.analyse(np.asarray(ds.render(scene)))
    assert (det.background, det.colour, det.shape, det.size, det.position) == (
        "blue",
        "red",
        "star",
        "large",
        "right",
    )


def test_checker_reports_no_shape_on_a_flat_image() -> None:
    flat = np.full((64, 64, 3), ds.PALETTE["green"], dtype=np.uint8)
    det = ck.analyse(flat)
    assert det.background == "green"
    assert det.shape is None and det.colour is None
