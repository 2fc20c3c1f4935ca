"""The diamond LoRA's data and checker support (tools/shapes_dataset.py CONCEPT_SHAPES,
tools/shapes_checker.py `kinds=`): a diamond is drawn and named only when asked, the bundled
model's shapes, held-out split and default checker reading stay as they were."""

from __future__ import annotations

import random

import numpy as np
import shapes_checker as ck
import shapes_dataset as ds

KINDS = ds.SHAPES + ds.CONCEPT_SHAPES


def test_the_diamond_is_apart_from_the_models_shapes() -> None:
    assert ds.SHAPES == ("circle", "square", "triangle", "star", "ring")
    assert ds.CONCEPT_SHAPES == ("diamond",) and "diamond" not in ds.CAPTION_WORDS
    x, y = zip(*ds.shape_polygon("diamond", 32, 32, 10), strict=True)
    assert (min(x), max(x), min(y), max(y)) == (21.5, 42.5, 21.5, 42.5)  # on its corners


def test_every_kind_is_told_apart_on_true_renders_with_the_diamond_added() -> None:
    rng = random.Random(4)
    hits, n, named = 0, 0, []
    for shape in KINDS:
        for position in ds.POSITIONS:
            for size in ds.SIZES:
                for _ in range(2):
                    colour = rng.choice(ds.COLOURS)
                    bg = rng.choice([c for c in ds.COLOURS if c != colour])
                    scene = ds.scene_from_words(colour, shape, size, position, bg, rng)
                    img = np.asarray(ds.render(scene))
                    det = ck.analyse(img, kinds=KINDS)
                    got = (det.background, det.colour, det.shape, det.size, det.position)
                    hits += got == (bg, colour, shape, size, position)
                    n += 1
                    named.append(ck.analyse(img).shape)
    assert hits / n >= 0.95, (hits, n)
    assert "diamond" not in named  # the default kinds have no diamond


def test_the_default_reading_is_the_same_with_or_without_the_argument() -> None:
    rng = random.Random(7)
    for _ in range(30):
        img = np.asarray(ds.render(ds.sample_scene(rng, include_held_out=True)))
        assert ck.analyse(img) == ck.analyse(img, kinds=ds.SHAPES)


def test_diamond_scenes_caption_the_word_and_never_a_held_out_pair() -> None:
    held = [(c, p) for c in ds.COLOURS for p in ds.POSITIONS if ds.is_diamond_held_out(c, p)]
    assert len(held) == len(ds.COLOURS)  # one position per colour, every position twice
    assert sorted(p for _, p in held) == sorted(ds.POSITIONS * 2)
    rng = random.Random(19)
    for _ in range(300):
        scene = ds.concept_shape_scene(rng, "diamond")
        diamonds = [sh for sh in scene.shapes if sh.shape == "diamond"]
        assert len(diamonds) == 1
        assert not ds.is_diamond_held_out(diamonds[0].colour, diamonds[0].position)
        assert "diamond" in ds.caption(scene)


def test_the_bundled_vae_keeps_diamonds() -> None:
    """The LoRA's ceiling: true diamonds through the bundled VAE and back are still read as
    diamonds (93 of these 100; brown kept its colour in only 73)."""
    import extras_training as xt
    import torch

    pipe = xt.load_bundled()
    rng = random.Random(6)
    scenes = []
    for _ in range(100):
        colour = rng.choice(ds.COLOURS)
        bg = rng.choice([c for c in ds.COLOURS if c != colour])
        scenes.append(ds.scene_from_words(colour, "diamond", rng.choice(ds.SIZES),
                                          rng.choice(ds.POSITIONS), bg, rng))  # fmt: skip
    with torch.no_grad():
        latents = xt.encode(pipe.vae, xt.render_all(scenes, ds.PALETTE))
        decoded = pipe.vae.decode(latents / pipe.vae.config.scaling_factor).sample
    images = ((decoded.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
    read = [ck.analyse(img, kinds=KINDS).shape for img in images]
    assert read.count("diamond") >= 90, read


def test_the_trainer_draws_diamonds_for_word_diamond() -> None:
    import train_lora as tl

    scenes, palette = tl.concept_scenes("diamond", random.Random(1), 20)
    assert palette is ds.PALETTE
    assert all(sum(sh.shape == "diamond" for sh in s.shapes) == 1 for s in scenes)
