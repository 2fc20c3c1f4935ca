"""The evaluation checker must be right on ground truth before it may judge the model."""

from __future__ import annotations

import dataclasses
import random
from types import SimpleNamespace

import numpy as np
import pytest
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


def _outlined(shape: str, size: str, colour: str, background: str, seed: int) -> ds.SceneSpec:
    scene = ds.scene_from_words(colour, shape, size, "center", background, random.Random(seed))
    return dataclasses.replace(scene, shapes=(dataclasses.replace(scene.shapes[0], outlined=True),))


def test_outlined_renders_are_hollow_with_one_border_width() -> None:
    for shape in ds.OUTLINE_SHAPES:
        img = np.asarray(ds.render(_outlined(shape, "large", "red", "blue", 1)))
        filled = np.asarray(ds.render(ds.scene_from_words("red", shape, "large", "center", "blue",
                                                          random.Random(1))))  # fmt: skip

        def shape_pixels(image: np.ndarray) -> int:
            return int((np.abs(image.astype(int) - ds.PALETTE["blue"]).sum(-1) > 60).sum())

        # the hole is the shape scaled by 1 - 0.45 about its incentre: 30% of the area
        assert 0.62 < shape_pixels(img) / shape_pixels(filled) < 0.78, shape
        assert (img[32, 32] == ds.PALETTE["blue"]).all(), shape  # the middle is background
    star = ds.scene_from_words("red", "star", "large", "left", "blue").shapes[0]
    star = dataclasses.replace(star, outlined=True)
    with pytest.raises(ValueError, match="star cannot be outlined"):
        ds.render(ds.SceneSpec("blue", (star,)))


def test_outline_detector_tells_outlined_shapes_from_filled_ones() -> None:
    rng = random.Random(4)
    for k in range(60):
        shape, size = ds.OUTLINE_SHAPES[k % 3], ds.SIZES[k // 3 % 2]
        bg = rng.choice(ds.COLOURS)
        colour = rng.choice([c for c in ds.COLOURS if c != bg])
        det = ck.analyse(
            np.asarray(ds.render(_outlined(shape, size, colour, bg, k))), outlines=True
        )
        assert (det.outlined, det.shape, det.colour) == (True, shape, colour), (k, shape, size)
    filled = [s for s in (ds.sample_scene(rng) for _ in range(300)) if len(s.shapes) == 1]
    for scene in filled:
        det = ck.analyse(np.asarray(ds.render(scene)), outlines=True)
        kind = scene.shapes[0].shape
        # a ring is a circle's outline; every filled kind encloses nothing
        assert det.outlined == (kind == "ring"), scene
        assert det.shape == ("circle" if kind == "ring" else kind), scene


def test_outline_detection_is_opt_in_and_leaves_the_default_reading_alone() -> None:
    ring = ds.scene_from_words("red", "ring", "large", "left", "blue", random.Random(2))
    det = ck.analyse(np.asarray(ds.render(ring)))
    assert det.outlined is None and det.shape == "ring"
    assert ck.analyse(np.asarray(ds.render(ring)), outlines=True).shape == "circle"


def test_outlined_shapes_are_said_in_the_caption() -> None:
    scene = _outlined("square", "small", "green", "white", 3)
    assert ds.caption(scene) == "a small green outlined square in the center, white background"
