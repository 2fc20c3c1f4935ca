"""The training data must be reproducible and the held-out split must really be held out."""

from __future__ import annotations

import itertools
import random

import numpy as np
import shapes_dataset as ds


def test_same_seed_same_samples() -> None:
    a = list(itertools.islice(ds.iter_samples(42), 20))
    b = list(itertools.islice(ds.iter_samples(42), 20))
    for (img_a, cap_a), (img_b, cap_b) in zip(a, b, strict=True):
        assert cap_a == cap_b
        assert np.array_equal(np.asarray(img_a), np.asarray(img_b))


def test_different_seed_different_samples() -> None:
    a = [c for _, c in itertools.islice(ds.iter_samples(1), 10)]
    b = [c for _, c in itertools.islice(ds.iter_samples(2), 10)]
    assert a != b


def test_images_are_64px_rgb_and_captions_use_known_words() -> None:
    vocab = set(ds.CAPTION_WORDS)
    for img, cap in itertools.islice(ds.iter_samples(3), 50):
        assert img.size == (64, 64) and img.mode == "RGB"
        assert set(cap.replace(",", " ,").split()) <= vocab


def test_held_out_split() -> None:
    held = ds.held_out_triples()
    assert len(held) == 25
    # every colour still meets every shape and every position in training
    for c, s in itertools.product(ds.COLOURS, ds.SHAPES):
        assert any(not ds.is_held_out(c, s, p) for p in ds.POSITIONS)
    rng = random.Random(0)
    for _ in range(2000):
        scene = ds.sample_scene(rng)
        for sh in scene.shapes:
            assert not ds.is_held_out(sh.colour, sh.shape, sh.position)
            assert sh.colour != scene.background


def test_dataset_has_one_and_two_shape_scenes() -> None:
    rng = random.Random(0)
    counts = [len(ds.sample_scene(rng).shapes) for _ in range(1000)]
    assert 100 < counts.count(2) < 350
    assert counts.count(1) > 600
