"""Measure the example LoRAs and embedding with the shapes checker.

    HF_HUB_OFFLINE=1 python tools/evaluate_extras.py [--write] [--sheets DIR]

For each, held-out prompts (pairs never drawn in its training) run with and without it, fixed
seeds, the bundled model's defaults (Euler, 20 steps, CFG 5). The checker (tools/
shapes_checker.py, which never looks at a model) scores whether the new concept appears, and
the bundled model's own held-out prompts (tools/evaluate_bundled_model.py) run with the LoRA on
to show what it keeps of the base abilities. The embedding adds one word and nothing else:
prompts without it are checked to give bit-identical pictures. `--write` stores the figures in
resources/extras/evaluation.json and the tables in both README files.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import evaluate_bundled_model as base_eval
import extras_training as xt
import shapes_checker as ck
import shapes_dataset as ds
import train_embedding as ti
import train_lora as tl

from pipeline.embeddings import expand_names, install, read_embedding
from pipeline.loras import LoraState, apply_loras

LORA = xt.EXTRAS / "loras" / f"{tl.WORD}.safetensors"
BROWN = "brown"  # the colour LoRA's word (shapes_dataset.CONCEPT_PALETTE)
BROWN_LORA = xt.EXTRAS / "loras" / f"{BROWN}.safetensors"
DIAMOND = "diamond"  # the shape LoRA's word (shapes_dataset.CONCEPT_SHAPES)
DIAMOND_LORA = xt.EXTRAS / "loras" / f"{DIAMOND}.safetensors"
KINDS = ds.SHAPES + ds.CONCEPT_SHAPES  # the checker's kinds for the diamond prompts
EMBEDDING = xt.EXTRAS / "embeddings" / f"{ti.WORD}.safetensors"
BASE_ATTRS = ("background", "colour", "shape", "position", "size")
STATE = LoraState()


def _item(spec: ds.ShapeSpec, background: str) -> dict:
    """One evaluation prompt for a one-shape scene, with what the checker should read."""
    return {"prompt": f"{ds.shape_phrase(spec)}, {background} background",
            "background": background, "colour": spec.colour, "shape": spec.shape,
            "position": spec.position, "size": spec.size}  # fmt: skip


def outlined_items() -> list[dict]:
    """The 3 held-out kind × position pairs × 2 sizes × 8 colour/background pairs = 48
    prompts such as "a large red outlined square at the top, blue background"."""
    items = []
    pairs = [(s, p) for s in ds.OUTLINE_SHAPES for p in ds.POSITIONS if tl.is_held_out(s, p)]
    for k in range(8):  # every kind and size in the first 6 (`--limit` runs stay fair)
        for i, (shape, position) in enumerate(pairs):
            for j, size in enumerate(ds.SIZES):
                colour = ds.COLOURS[(3 * i + 5 * j + k) % len(ds.COLOURS)]
                bg = ds.COLOURS[(3 * i + 5 * j + k + 1 + (k * 7) % 9) % len(ds.COLOURS)]
                spec = ds.ShapeSpec(shape, colour, size, position, 0, 0, 0, outlined=True)
                items.append(_item(spec, bg))
    return items


def brown_items() -> list[dict]:
    """The 5 held-out kind × position pairs × 2 sizes × 5 backgrounds = 50 prompts such as
    "a large brown circle on the left, blue background" (shapes_dataset.is_concept_held_out)."""
    items = []
    pairs = [(s, p) for s in ds.SHAPES for p in ds.POSITIONS if ds.is_concept_held_out(s, p)]
    for k in range(5):  # every kind and size in the first 10 (`--limit` runs stay fair)
        for i, (shape, position) in enumerate(pairs):
            for j, size in enumerate(ds.SIZES):
                bg = ds.COLOURS[(2 * k + 3 * i + 5 * j) % len(ds.COLOURS)]
                spec = ds.ShapeSpec(shape, BROWN, size, position, 0, 0, 0)
                items.append(_item(spec, bg))
    return items


def diamond_items() -> list[dict]:
    """The 10 held-out colour × position pairs × 5 backgrounds = 50 prompts such as "a large
    red diamond on the left, blue background" (shapes_dataset.is_diamond_held_out), sizes
    alternating so each pair has both."""
    items = []
    pairs = [(c, p) for c in ds.COLOURS for p in ds.POSITIONS if ds.is_diamond_held_out(c, p)]
    for k in range(5):  # every pair in the first 10 (`--limit` runs stay fair)
        for i, (colour, position) in enumerate(pairs):
            size = ds.SIZES[(i + k) % 2]
            bg = ds.COLOURS[(ds.COLOURS.index(colour) + 1 + 2 * k) % len(ds.COLOURS)]
            spec = ds.ShapeSpec(DIAMOND, colour, size, position, 0, 0, 0)
            items.append(_item(spec, bg))
    return items


def coin_items() -> list[dict]:
    """The held-out position × background pairs × 2 sizes × 2 seeds."""
    items = []
    for position in ds.POSITIONS:
        for bg in ti.BACKGROUNDS:
            if not ti.is_held_out(position, bg):
                continue
            for size in ds.SIZES:
                phrase = f"a {size} {ti.WORD} {ds.POSITION_PHRASES[position]}, {bg} background"
                for _ in range(2):
                    item = {"prompt": phrase, "background": bg, "colour": ti.COLOUR,
                            "shape": ti.SHAPE, "position": position, "size": size}  # fmt: skip
                    items.append(item)
    return items


def generate(pipe, items: list[dict], seed0: int, lora: float | None = None,
             embedding: bool = False, lora_file: Path = LORA) -> np.ndarray:  # fmt: skip
    """Batched, fixed seeds, as the model card's evaluation (tools/evaluate_bundled_model.py);
    the LoRA and embedding are applied with the engine's own code (pipeline/loras.py,
    pipeline/embeddings.py)."""
    apply_loras(STATE, pipe, [] if lora is None else [(lora_file, lora, False)])
    prompts = [item["prompt"] for item in items]
    if embedding:
        installed = read_embedding(EMBEDDING)
        install(pipe, installed)
        prompts = [expand_names(p, [installed]) for p in prompts]
    seeds = [seed0 + i for i in range(len(items))]
    return base_eval.generate(pipe, prompts, seeds, steps=20, cfg=5.0)


def score(images: np.ndarray, items: list[dict], outlines: bool, palette: dict | None = None,
          kinds: tuple[str, ...] = ds.SHAPES) -> dict:  # fmt: skip
    """Hit rates per attribute; with `outlines` (the LoRA's prompts) the checker also says
    whether each shape is outlined, which only counts there (the model card never asks); with
    `palette` (the brown prompts: ds.FULL_PALETTE) it can name brown, with `kinds` (the
    diamond prompts: KINDS) a diamond."""
    hits: Counter = Counter()
    for image, item in zip(images, items, strict=True):
        det = ck.analyse(image, outlines=outlines, palette=palette, kinds=kinds)
        for attr in BASE_ATTRS:
            hits[attr] += getattr(det, attr) == item[attr]
        hits["colour_and_shape"] += det.colour == item["colour"] and det.shape == item["shape"]
        hits["outlined"] += bool(det.outlined)
    return {"n": len(items), **{k: round(v / len(items), 3) for k, v in hits.items()}}


@torch.no_grad()
def through_vae(pipe, items: list[dict], palette: dict, vae: bool = True) -> np.ndarray:
    """The renderer's own picture of each prompt, encoded and decoded by the bundled VAE: what
    the LoRA could at best draw (the VAE turns some brown shapes black or red)."""
    rng = np.random.default_rng(0)
    scenes = [ds.scene_from_words(it["colour"], it["shape"], it["size"], it["position"],
                                  it["background"], random.Random(int(rng.integers(1 << 30))))
              for it in items]  # fmt: skip
    if not vae:  # the true pictures themselves: the checker's own reading of them
        return xt.render_all(scenes, palette)
    latents = xt.encode(pipe.vae, xt.render_all(scenes, palette))
    decoded = pipe.vae.decode(latents / pipe.vae.config.scaling_factor).sample.clamp(-1, 1)
    return ((decoded + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()


def brown_runs(pipe, held: list[dict], limit: int | None, lora: Path) -> dict:
    """The brown LoRA: its held-out prompts without and with it, the card's prompts with it,
    and the same prompts' true pictures through the VAE (the ceiling)."""
    brown, full = brown_items()[:limit], ds.FULL_PALETTE
    return {
        "brown_through_vae": (through_vae(pipe, brown, full), brown, False, full),
        "brown_without": (generate(pipe, brown, 900), brown, False, full),
        "brown_with_lora": (generate(pipe, brown, 900, 1.0, lora_file=lora), brown, False, full),
        "base_with_brown_lora": (generate(pipe, held, 1000, 1.0, lora_file=lora), held, False),
    }


def diamond_runs(pipe, held: list[dict], limit: int | None, lora: Path) -> dict:
    """The diamond LoRA, as brown_runs: its 50 held-out prompts without and with it, the card's
    prompts with it, and the same prompts' true pictures through the VAE (the ceiling)."""
    items = diamond_items()[:limit]
    with_lora = generate(pipe, items, 1100, 1.0, lora_file=lora)
    return {
        "diamond_through_vae": (through_vae(pipe, items, ds.PALETTE), items, False, None, KINDS),
        "diamond_without": (generate(pipe, items, 1100), items, False, None, KINDS),
        "diamond_with_lora": (with_lora, items, False, None, KINDS),
        "base_with_diamond_lora": (generate(pipe, held, 1000, 1.0, lora_file=lora), held, False),
    }


def evaluate(sheets: Path | None, limit: int | None, lora: Path = LORA,
             brown_lora: Path = BROWN_LORA, only: str | None = None,
             diamond_lora: Path = DIAMOND_LORA) -> dict:  # fmt: skip
    """Every run, or with `only` ("outlined", "brown" or "diamond": pilot runs) that LoRA's
    alone. Brown's runs are left out of the full table when its file is not shipped."""
    torch.set_flush_denormal(True)  # as the card's evaluation: denormals cost a lot on CPU
    pipe = xt.load_bundled()
    outlined, coin = outlined_items()[:limit], coin_items()[:limit]
    held = base_eval.held_out_prompts()[:limit]
    started = time.time()
    runs: dict = {}
    if only in (None, "outlined"):
        runs["outlined_without"] = (generate(pipe, outlined, 500), outlined, True)
        runs["base_without"] = (generate(pipe, held, 1000), held, False)  # the card's seeds
        with_lora = generate(pipe, outlined, 500, 1.0, lora_file=lora)
        runs["outlined_with_lora"] = (with_lora, outlined, True)
        runs["base_with_lora"] = (generate(pipe, held, 1000, 1.0, lora_file=lora), held, False)
    if only == BROWN or (only is None and brown_lora.is_file()):
        runs.update(brown_runs(pipe, held, limit, brown_lora))
    if only in (None, DIAMOND):
        runs.update(diamond_runs(pipe, held, limit, diamond_lora))
    if only is None:
        runs["coin_without"] = (generate(pipe, coin, 700), coin, False)
        runs["coin_with_embedding"] = (generate(pipe, coin, 700, embedding=True), coin, False)
    out = {name: score(*run) for name, run in runs.items()}
    if sheets is not None:
        sheets.mkdir(parents=True, exist_ok=True)
        for name, (images, *_) in runs.items():
            base_eval.save_grid(images, sheets / f"{name}.png")
    if only is not None:
        out["seconds"] = round(time.time() - started)
        return out
    # the first batch of 25 exactly as base_without ran it: another batch size alone can change
    # a picture's last bits (measured: 1 of 20 prompts in a batch of 20 instead of 25)
    identical = generate(pipe, held[:25], 1000, embedding=True)
    out["base_with_embedding_identical"] = int(
        sum(np.array_equal(a, b) for a, b in zip(identical, runs["base_without"][0], strict=False))
    )
    out["identical_of"] = len(identical)
    out["card_held_out"] = json.loads((xt.BUNDLED / "evaluation.json").read_text())["held_out"]
    out["seconds"] = round(time.time() - started)
    out["method"] = "plain diffusers StableDiffusionPipeline, batches of 25, Euler, 20 steps, CFG 5"
    out["load_average"] = os.getloadavg()[0]
    return out


def pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def table(res: dict) -> str:
    card = res["card_held_out"]
    b = "base abilities, the bundled model's 100 held-out prompts"
    rows = [
        "| run | n | concept appears | background | colour | shape | position |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, label, concept in (
        ("outlined_without", f'"{tl.WORD}" prompts, no LoRA', "outlined"),
        ("outlined_with_lora", f'"{tl.WORD}" prompts, LoRA `{tl.WORD}` at 1.0', "outlined"),
        ("brown_without", f'"{BROWN}" prompts, no LoRA', "colour"),
        ("brown_with_lora", f'"{BROWN}" prompts, LoRA `{BROWN}` at 1.0', "colour"),
        ("brown_through_vae", f'"{BROWN}" prompts: the true pictures through the VAE (ceiling)',
         "colour"),
        ("diamond_without", f'"{DIAMOND}" prompts, no LoRA', "shape"),
        ("diamond_with_lora", f'"{DIAMOND}" prompts, LoRA `{DIAMOND}` at 1.0', "shape"),
        ("diamond_through_vae",
         f'"{DIAMOND}" prompts: the true pictures through the VAE (ceiling)', "shape"),
        ("coin_without", f'"{ti.WORD}" prompts, no embedding', "colour_and_shape"),
        ("coin_with_embedding", f'"{ti.WORD}" prompts, embedding `{ti.WORD}`',
         "colour_and_shape"),
    ):  # fmt: skip
        if key not in res:  # brown's runs when its file is not shipped
            continue
        r = res[key]
        rows.append(f"| {label} | {r['n']} | **{pct(r[concept])}** | "
                    + " | ".join(pct(r[a]) for a in ("background", "colour", "shape", "position"))
                    + " |")  # fmt: skip
    for key, label in (("base_without", f"{b}, no LoRA"),
                       ("base_with_lora", f"{b}, LoRA `{tl.WORD}` on"),
                       ("base_with_brown_lora", f"{b}, LoRA `{BROWN}` on"),
                       ("base_with_diamond_lora", f"{b}, LoRA `{DIAMOND}` on")):  # fmt: skip
        if key not in res:
            continue
        r = res[key]
        rows.append(f"| {label} | {r['n']} | – | "
                    + " | ".join(pct(r[a]) for a in ("background", "colour", "shape", "position"))
                    + " |")  # fmt: skip
    rows.append(f"| model card, held-out (plain diffusers) | {card['n']} | – | "
                + " | ".join(pct(card[a]) for a in ("background", "colour", "shape", "position"))
                + " |")  # fmt: skip
    brown_note = (f"LoRA `{BROWN}` — the shape's colour is read as brown (`analyse(..., "
                  f"palette=FULL_PALETTE)`: the ten colours and brown); "
                  if "brown_with_lora" in res else "")  # fmt: skip
    return "\n".join([
        *rows, "",
        f"Concept: LoRA `{tl.WORD}` — the checker sees an outlined shape (its border encloses "
        f"background: `analyse(..., outlines=True)`); {brown_note}"
        f"LoRA `{DIAMOND}` — the shape is read as a diamond (`analyse(..., kinds=SHAPES + "
        f"CONCEPT_SHAPES)`: the five kinds and the diamond; a diamond of the asked colour: "
        f"{pct(res['diamond_with_lora']['colour_and_shape'])} with the LoRA, "
        f"{pct(res['diamond_without']['colour_and_shape'])} without); "
        f"embedding — a {ti.COLOUR} {ti.SHAPE}. "
        f"With the embedding installed, "
        f"{res['base_with_embedding_identical']} of {res['identical_of']} prompts without the "
        f"word gave "
        f"bit-identical pictures. The bundled model with the LoRA and embedding applied by "
        f"the engine's code, Euler, 20 steps, CFG 5, fixed seeds (the card's for the base "
        f"prompts); "
        f"{res['seconds']} s at load average {res['load_average']:.1f}.",
    ])  # fmt: skip


START, END = "<!-- EFFECT START -->", "<!-- EFFECT END -->"


def write_table(path: Path, text: str) -> None:
    body = path.read_text(encoding="utf-8")
    head, _, rest = body.partition(START)
    _, _, tail = rest.partition(END)
    path.write_text(f"{head}{START}\n{text}\n{END}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--write", action="store_true", help="store figures and tables")
    p.add_argument("--sheets", type=Path, default=None, help="contact sheets here")
    p.add_argument("--limit", type=int, default=None, help="first N prompts of each set")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--lora", type=Path, default=LORA, help="another LoRA file (pilot runs)")
    p.add_argument("--brown-lora", type=Path, default=BROWN_LORA, help="another brown LoRA file")
    p.add_argument("--only-lora", action="store_true",
                   help="only the outlined LoRA's runs (pilot runs)")  # fmt: skip
    p.add_argument("--only-brown", action="store_true",
                   help="only the brown LoRA's runs (pilot runs)")  # fmt: skip
    p.add_argument("--diamond-lora", type=Path, default=DIAMOND_LORA,
                   help="another diamond LoRA file")  # fmt: skip
    p.add_argument("--only-diamond", action="store_true",
                   help="only the diamond LoRA's runs (pilot runs)")  # fmt: skip
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    only = ("outlined" if args.only_lora else BROWN if args.only_brown
            else DIAMOND if args.only_diamond else None)  # fmt: skip
    res = evaluate(args.sheets, args.limit, args.lora, brown_lora=args.brown_lora, only=only,
                   diamond_lora=args.diamond_lora)  # fmt: skip
    if only is not None:
        print(json.dumps(res, indent=1))
        return
    text = table(res)
    print(json.dumps(res, indent=1))
    print(text)
    if args.write:
        (xt.EXTRAS / "evaluation.json").write_text(json.dumps(res, indent=1) + "\n")
        for readme in (xt.EXTRAS / "README.md", xt.REPO / "tools" / "README.md"):
            write_table(readme, text)


if __name__ == "__main__":
    main()
