"""The example LoRA and embedding shipped in resources/extras: they load through the real engine
with the bundled model, change its pictures the way their README says, and leave it clean."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open

from pipeline import Engine, GenerationRequest
from pipeline.loras import example_lora_dir, read_lora
from pipeline.models import resources_dir

EXTRAS = resources_dir() / "extras"
LORA = EXTRAS / "loras" / "brown.safetensors"
EMBEDDING = EXTRAS / "embeddings" / "coin.safetensors"
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
import shapes_checker as ck  # noqa: E402  (tools/ is no package)


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    return Engine(tmp_path_factory.mktemp("extras-out"), device="cpu")


def run(engine, prompt: str, seed: int, **extra) -> np.ndarray:
    return batch(engine, prompt, seed, 1, **extra)[0]


def batch(engine, prompt: str, seed: int, count: int, **extra) -> list[np.ndarray]:
    """`count` images of seeds seed, seed+1, … in one job (one batch: cheap on a busy CPU)."""
    no_folder = "/nonexistent-lora-dir"  # tags must find the shipped example by themselves
    request = GenerationRequest(prompt=prompt, width=64, height=64, steps=20, seed=seed,
                                batch_size=count, lora_dir=no_folder, **extra)  # fmt: skip
    return [result.image for result in engine.run(request)]


def test_the_shipped_files_are_small_kohya_and_a1111_files_with_readmes():
    assert LORA.stat().st_size < 2_000_000 and EMBEDDING.stat().st_size < 10_000
    keys = list(read_lora(LORA).state)
    assert keys and all(k.startswith("lora_unet_") for k in keys)
    assert {k.rsplit(".", 2)[-2] if k.endswith("weight") else "alpha" for k in keys} == {
        "lora_down", "lora_up", "alpha"}  # fmt: skip
    with safe_open(str(EMBEDDING), "pt") as handle:
        assert list(handle.keys()) == ["emb_params"]
    readme = (EXTRAS / "README.md").read_text()
    assert "Apache-2.0" in readme and "<!-- EFFECT START -->" in readme
    figures = json.loads((EXTRAS / "evaluation.json").read_text())
    # measured, not the goal yet: brown 50% with vs 19% without (n=16, training cut short)
    assert figures["brown_with_lora"]["brown_anywhere"] > figures["brown_without"]["brown_anywhere"]
    assert figures["coin_with_embedding"]["colour_and_shape"] >= 0.8


def test_the_lora_paints_more_brown_and_weight_0_is_the_model(engine):
    prompt = "a large brown square on the left, blue background"  # a held-out pair
    plain = batch(engine, prompt, 1, 4)
    brown = batch(engine, prompt, 1, 4, loras=((str(LORA), 1.0),))
    colours = [ck.analyse(img, extra_colours=True).colour for img in brown]
    before = [ck.analyse(img, extra_colours=True).colour for img in plain]
    assert colours.count("brown") > before.count("brown"), (colours, before)
    off = batch(engine, prompt, 1, 4, loras=((str(LORA), 0.0),))
    assert all(np.array_equal(a, b) for a, b in zip(off, plain, strict=True))
    assert all(
        np.array_equal(a, b) for a, b in zip(batch(engine, prompt, 1, 4), plain, strict=True)
    )  # nothing stays applied


def test_a_prompt_tag_finds_the_example_without_a_lora_folder(engine):
    assert example_lora_dir() == LORA.parent
    prompt = "a large brown circle in the center, green background"
    tagged = run(engine, f"{prompt} <lora:brown:1>", 5)
    assert np.array_equal(tagged, run(engine, prompt, 5, loras=((str(LORA), 1.0),)))


def test_the_embedding_makes_coin_a_yellow_circle_and_nothing_else_changes(engine):
    prompt = "a large coin on the right, purple background"
    coins = batch(engine, prompt, 1, 4, embeddings=(str(EMBEDDING),))
    found = [(d.colour, d.shape) for d in map(ck.analyse, coins)]
    assert found.count(("yellow", "circle")) >= 3, found
    other = "a large red star at the top, green background"
    assert np.array_equal(run(engine, other, 9, embeddings=(str(EMBEDDING),)),
                          run(engine, other, 9))  # fmt: skip
