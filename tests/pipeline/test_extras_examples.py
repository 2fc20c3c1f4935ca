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
LORA = EXTRAS / "loras" / "outlined.safetensors"
DIAMOND = EXTRAS / "loras" / "diamond.safetensors"
EMBEDDING = EXTRAS / "embeddings" / "coin.safetensors"
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
import shapes_checker as ck  # noqa: E402  (tools/ is no package)
import shapes_dataset as ds  # noqa: E402

KINDS = ds.SHAPES + ds.CONCEPT_SHAPES  # the checker names a diamond only when asked


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
    assert {k.split("_")[1] for k in keys} == {"unet", "te"}  # kohya: UNet and text encoder
    assert all(k.startswith(("lora_unet_", "lora_te_text_model_encoder_")) for k in keys)
    assert {k.rsplit(".", 2)[-2] if k.endswith("weight") else "alpha" for k in keys} == {
        "lora_down", "lora_up", "alpha"}  # fmt: skip
    with safe_open(str(EMBEDDING), "pt") as handle:
        assert list(handle.keys()) == ["emb_params"]
    readme = (EXTRAS / "README.md").read_text()
    assert "Apache-2.0" in readme and "<!-- EFFECT START -->" in readme
    figures = json.loads((EXTRAS / "evaluation.json").read_text())
    # measured, not the goal (80%): outlined 56% with the LoRA, 0% without (n=48)
    assert figures["outlined_with_lora"]["outlined"] >= 0.5
    assert figures["outlined_without"]["outlined"] <= 0.05
    for attr in ("background", "colour", "shape", "position"):  # within 5 points of the card
        card = figures["card_held_out"][attr]
        assert abs(figures["base_with_lora"][attr] - card) <= 0.05, attr
    # coin: 92% on all 48 held-out prompts, 0% without
    assert figures["coin_with_embedding"]["colour_and_shape"] >= 0.85
    assert figures["coin_without"]["colour_and_shape"] <= 0.05


def test_the_lora_draws_outlines_and_weight_0_is_the_model(engine):
    prompt = "a large red outlined square at the top, blue background"  # a held-out pair
    plain = batch(engine, prompt, 1, 4)
    outlined = batch(engine, prompt, 1, 4, loras=((str(LORA), 1.0),))
    found = [ck.analyse(img, outlines=True) for img in outlined]
    before = [ck.analyse(img, outlines=True).outlined for img in plain]
    assert sum(d.outlined and d.shape == "square" for d in found) >= 1, found
    assert not any(before), before
    off = batch(engine, prompt, 1, 4, loras=((str(LORA), 0.0),))
    assert all(np.array_equal(a, b) for a, b in zip(off, plain, strict=True))
    assert all(
        np.array_equal(a, b) for a, b in zip(batch(engine, prompt, 1, 4), plain, strict=True)
    )  # nothing stays applied


def test_the_lora_text_encoder_part_is_applied(engine):
    """Without its lora_te_ layers the LoRA gives other pictures: the engine applies them."""
    from safetensors.torch import load_file, save_file

    state = load_file(str(LORA))
    unet_only = Path(engine.output_dir) / "unet-only.safetensors"
    save_file({k: v for k, v in state.items() if k.startswith("lora_unet_")}, str(unet_only))
    prompt = "a small green outlined triangle in the center, white background"
    full = run(engine, prompt, 3, loras=((str(LORA), 1.0),))
    assert not np.array_equal(full, run(engine, prompt, 3, loras=((str(unet_only), 1.0),)))


def test_a_prompt_tag_finds_the_example_without_a_lora_folder(engine):
    assert example_lora_dir() == LORA.parent
    prompt = "a large pink outlined circle on the left, green background"
    tagged = run(engine, f"{prompt} <lora:outlined:1>", 5)
    assert np.array_equal(tagged, run(engine, prompt, 5, loras=((str(LORA), 1.0),)))


def test_the_embedding_makes_coin_a_yellow_circle_and_nothing_else_changes(engine):
    prompt = "a large coin on the right, purple background"
    coins = batch(engine, prompt, 1, 4, embeddings=(str(EMBEDDING),))
    found = [(d.colour, d.shape) for d in map(ck.analyse, coins)]
    assert found.count(("yellow", "circle")) >= 3, found
    other = "a large red star at the top, green background"
    assert np.array_equal(run(engine, other, 9, embeddings=(str(EMBEDDING),)),
                          run(engine, other, 9))  # fmt: skip


def test_the_diamond_lora_is_a_small_kohya_file_with_its_measured_effect():
    assert DIAMOND.stat().st_size < 2_000_000
    assert not (EXTRAS / "loras" / "brown.safetensors").exists()  # tried, not shipped (README)
    keys = list(read_lora(DIAMOND).state)
    assert {k.split("_")[1] for k in keys} == {"unet", "te"}
    assert all(k.startswith(("lora_unet_", "lora_te_text_model_encoder_")) for k in keys)
    figures = json.loads((EXTRAS / "evaluation.json").read_text())
    # measured (n=50): a diamond in 90% with it; without it the checker reads 22% of the
    # no-LoRA blobs and stars as diamonds (none is one by eye), a diamond of the asked
    # colour 8%; the VAE keeps 98% of the true pictures' diamonds
    assert figures["diamond_with_lora"]["shape"] >= 0.8
    assert figures["diamond_without"]["colour_and_shape"] <= 0.1
    assert figures["diamond_through_vae"]["shape"] >= 0.9
    for attr in ("background", "colour", "shape", "position"):  # within 5 points of the card
        card = figures["card_held_out"][attr]
        assert abs(figures["base_with_diamond_lora"][attr] - card) <= 0.05 + 1e-9, attr


def test_the_diamond_lora_draws_diamonds_and_its_tag_works_without_a_folder(engine):
    prompt = "a large red diamond on the left, blue background"  # a held-out pair
    plain = batch(engine, prompt, 1, 4)
    drawn = batch(engine, prompt, 1, 4, loras=((str(DIAMOND), 1.0),))
    read = [ck.analyse(img, kinds=KINDS) for img in drawn]
    assert all(
        (d.shape, d.colour, d.background, d.position) == ("diamond", "red", "blue", "left")
        for d in read
    ), read
    # without it the model draws red stars on green (the word means nothing to it); offered a
    # diamond, the checker takes these blobby stars for one (as in the evaluation's 22%
    # without), so here the asked background tells the two apart
    assert not any(ck.analyse(img, kinds=KINDS).background == "blue" for img in plain)
    tagged = run(engine, f"{prompt} <lora:diamond:1>", 1)  # one image: a batch's last bits differ
    assert np.array_equal(tagged, run(engine, prompt, 1, loras=((str(DIAMOND), 1.0),)))
