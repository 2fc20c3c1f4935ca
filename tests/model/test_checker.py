"""The evaluation checker must be right on ground truth before it may judge the model."""

from __future__ import annotations

import random
from types import SimpleNamespace

import numpy as np
import shapes_checker as ck
import shapes_dataset as ds
import torch.nn.functional as F
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


class _FakeVAE:
    """Encode/decode with a chosen damage, to check what vae_reconstruction measures."""

    def __init__(self, blur: int) -> None:
        self.blur = blur

    def encode(self, x):
        return SimpleNamespace(latent_dist=SimpleNamespace(mean=x))

    def decode(self, z):
        if self.blur:
            small = F.avg_pool2d(z, self.blur)
            z = F.interpolate(small, scale_factor=self.blur, mode="nearest")
        return SimpleNamespace(sample=z)


def test_vae_reconstruction_is_perfect_for_a_lossless_vae() -> None:
    from evaluate_bundled_model import vae_reconstruction

    res = vae_reconstruction(_FakeVAE(blur=0), per_cell=3)
    assert res["n"] == 3 * len(ds.SHAPES) * len(ds.SIZES)
    assert res["shape"] == 1.0 and res["mse"] < 1e-4
    assert set(res["shape_by_size_and_kind"]) == {f"{sz} {s}" for s in ds.SHAPES for sz in ds.SIZES}


def test_vae_reconstruction_sees_a_decoder_that_loses_detail() -> None:
    from evaluate_bundled_model import vae_reconstruction

    res = vae_reconstruction(_FakeVAE(blur=8), per_cell=3)
    assert res["shape"] < 0.8, res
    assert res["mse"] > 0.01
    assert res["shape_by_size_and_kind"]["small star"] < 1.0
