"""Evaluate the bundled model on held-out prompts with an independent geometric checker.

Why: "it paints shapes" must be a measured claim. The prompts here use colour x shape x
position triples that never occur in training (tools/shapes_dataset.is_held_out), images are
generated with fixed seeds through plain diffusers pipelines, and the checker
(tools/shapes_checker.py) looks only at pixels, never at the model. The checker itself is
scored on ground-truth renders first.

    python tools/evaluate_bundled_model.py                    # print the table
    python tools/evaluate_bundled_model.py --write-card       # also fill the model card
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
from diffusers import AutoPipelineForInpainting, StableDiffusionPipeline
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import shapes_checker as ck
import shapes_dataset as ds

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = REPO / "resources" / "models" / "brushwork-shapes"
ATTRS = ("background", "colour", "shape", "position", "size")
CARD_START, CARD_END = "<!-- EVAL START -->", "<!-- EVAL END -->"


def _ground_truth(rng: random.Random, shape: str | None = None, size: str | None = None):
    """A random one-shape render and the attributes it was drawn with."""
    c, p = rng.choice(ds.COLOURS), rng.choice(ds.POSITIONS)
    s, sz = shape or rng.choice(ds.SHAPES), size or rng.choice(ds.SIZES)
    bg = rng.choice([x for x in ds.COLOURS if x != c])
    img = np.asarray(ds.render(ds.scene_from_words(c, s, sz, p, bg, rng)))
    return img, {"background": bg, "colour": c, "shape": s, "position": p, "size": sz}


def checker_on_ground_truth(n: int = 500, seed: int = 7) -> dict[str, float]:
    """Checker accuracy on exact renders (including held-out triples)."""
    rng = random.Random(seed)
    hits = Counter()
    for _ in range(n):
        img, truth = _ground_truth(rng)
        det = ck.analyse(img)
        for a in ATTRS:
            hits[a] += getattr(det, a) == truth[a]
    return {a: hits[a] / n for a in ATTRS}


def vae_reconstruction(vae, per_cell: int = 12, seed: int = 5) -> dict:
    """How often the checker still sees the right shape after the VAE alone (no UNet).

    Why: this is the ceiling the UNet works under. An under-trained decoder drew small stars
    as pentagons, which no amount of UNet training could fix; this separates the two.
    """
    rng = random.Random(seed)
    by_cell, errs = {}, []
    for shape in ds.SHAPES:
        for size in ds.SIZES:
            imgs, truths = zip(
                *(_ground_truth(rng, shape, size) for _ in range(per_cell)), strict=True
            )
            x = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float() / 127.5 - 1
            with torch.no_grad():
                y = vae.decode(vae.encode(x).latent_dist.mean).sample.clamp(-1, 1)
            errs.append((y - x).pow(2).mean().item())
            rec = ((y + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
            hits = sum(ck.analyse(r).shape == t["shape"] for r, t in zip(rec, truths, strict=True))
            by_cell[f"{size} {shape}"] = hits / per_cell
    return {
        "n": per_cell * len(by_cell),
        "shape": float(np.mean(list(by_cell.values()))),
        "shape_by_size_and_kind": by_cell,
        "mse": float(np.mean(errs)),
    }


def held_out_prompts() -> list[dict]:
    """25 held-out triples x 2 sizes x 2 backgrounds = 100 fully specified prompts."""
    items = []
    for i, (c, s, p) in enumerate(ds.held_out_triples()):
        others = [x for x in ds.COLOURS if x != c]
        for j, size in enumerate(ds.SIZES):
            for k in range(2):
                bg = others[(3 * i + 2 * j + 5 * k) % len(others)]
                items.append(_prompt_item(c, s, p, size, bg))
    return items


def seen_prompts(n: int = 100, seed: int = 11) -> list[dict]:
    """Fully specified prompts from the training distribution (for comparison only)."""
    rng = random.Random(seed)
    items = []
    while len(items) < n:
        c, s, p = rng.choice(ds.COLOURS), rng.choice(ds.SHAPES), rng.choice(ds.POSITIONS)
        if ds.is_held_out(c, s, p):
            continue
        bg = rng.choice([x for x in ds.COLOURS if x != c])
        size = rng.choice(ds.SIZES)
        items.append(_prompt_item(c, s, p, size, bg))
    return items


def _prompt_item(colour: str, shape: str, position: str, size: str, background: str) -> dict:
    """One fully specified prompt and the attributes the checker should find."""
    spec = ds.ShapeSpec(shape, colour, size, position, 0, 0, 0)
    return {
        "prompt": f"{ds.shape_phrase(spec)}, {background} background",
        "background": background,
        "colour": colour,
        "shape": shape,
        "position": position,
        "size": size,
    }


def generate(pipe, prompts: list[str], seeds: list[int], steps: int, cfg: float, batch=25):
    """Fixed-seed generation in batches; returns uint8 arrays (n, 64, 64, 3)."""
    out = []
    for i in range(0, len(prompts), batch):
        gens = [torch.Generator().manual_seed(s) for s in seeds[i : i + batch]]
        res = pipe(
            prompt=prompts[i : i + batch],
            num_inference_steps=steps,
            guidance_scale=cfg,
            generator=gens,
            output_type="np",
        ).images
        out.append((np.clip(res, 0, 1) * 255).round().astype(np.uint8))
    return np.concatenate(out)


def score(images: np.ndarray, items: list[dict]) -> tuple[dict[str, float], list[str]]:
    """Per-attribute accuracy plus a list of human-readable misses."""
    hits, misses = Counter(), []
    for img, it in zip(images, items, strict=True):
        det = ck.analyse(img)
        wrong = []
        for a in ATTRS:
            ok = getattr(det, a) == it[a]
            hits[a] += ok
            if not ok:
                wrong.append(f"{a}={getattr(det, a)}")
        if wrong:
            misses.append(f"'{it['prompt']}': " + ", ".join(wrong))
    return {a: hits[a] / len(items) for a in ATTRS}, misses


INPAINT_PROMPTS = {
    # the whole new picture is described: the shape that stays and the new one
    "both_described": "a large {c1} {s1} on the left and a large {c2} {s2} on the right, "
    "{bg} background",
    # only what the brush should paint, as a user of an inpaint brush writes it
    "new_shape_only": "a large {c2} {s2} on the right, {bg} background",
}


def inpaint_check(pipe, steps: int, cfg: float, n: int = 20, seed: int = 21) -> dict:
    """Mask the right half of a generated one-shape picture and ask for a new shape there.

    Follows the prompt = the checker finds the requested colour and kind in the masked half;
    unchanged = after pasting the result back through the mask, the unmasked half is
    bit-identical to the original (also reported: how much it drifted before paste-back).
    Two prompt styles (INPAINT_PROMPTS) run on the same pictures, masks and seeds.
    """
    inpaint = AutoPipelineForInpainting.from_pipe(pipe)
    inpaint.set_progress_bar_config(disable=True)
    rng = random.Random(seed)
    mask = np.zeros((64, 64), dtype=np.uint8)
    mask[:, 32:] = 255
    mask_img = Image.fromarray(mask)
    m = (mask[..., None] > 127).astype(np.uint8)
    hits = {k: Counter() for k in INPAINT_PROMPTS}
    drift = []
    for i in range(n):
        bg = rng.choice(ds.COLOURS)
        c1, c2 = rng.sample([x for x in ds.COLOURS if x != bg], 2)
        s1, s2 = rng.sample(ds.SHAPES, 2)
        base_prompt = f"a large {c1} {s1} on the left, {bg} background"
        base = generate(pipe, [base_prompt], [seed * 100 + i], steps, cfg)[0]
        for style, template in INPAINT_PROMPTS.items():
            res = inpaint(
                prompt=template.format(c1=c1, s1=s1, c2=c2, s2=s2, bg=bg),
                image=Image.fromarray(base),
                mask_image=mask_img,
                num_inference_steps=steps,
                guidance_scale=cfg,
                generator=torch.Generator().manual_seed(seed * 1000 + i),
                output_type="np",
            ).images[0]
            res = (np.clip(res, 0, 1) * 255).round().astype(np.uint8)
            pasted = res * m + base * (1 - m)
            det = ck.analyse(pasted, region=(32, 0, 64, 64))
            h = hits[style]
            h["identical"] += bool(np.array_equal(pasted[:, :32], base[:, :32]))
            h["colour"] += det.colour == c2
            h["shape"] += det.shape == s2
            h["both"] += det.colour == c2 and det.shape == s2
            drift.append(float(np.abs(res[:, :32].astype(int) - base[:, :32].astype(int)).mean()))
    out: dict = {"n": n, "unmasked_mean_abs_drift_before_paste": float(np.mean(drift))}
    for style, h in hits.items():
        out[style] = {
            "prompt": INPAINT_PROMPTS[style],
            "masked_half_colour": h["colour"] / n,
            "masked_half_shape": h["shape"] / n,
            "masked_half_colour_and_shape": h["both"] / n,
            "unmasked_identical_after_paste": h["identical"] / n,
        }
    return out


def save_grid(images: np.ndarray, path: Path, cols: int = 10) -> None:
    """Contact sheet of generations, for a human look at what the numbers mean."""
    rows = (len(images) + cols - 1) // cols
    grid = Image.new("RGB", (64 * cols, 64 * rows))
    for i, img in enumerate(images):
        grid.paste(Image.fromarray(img), ((i % cols) * 64, (i // cols) * 64))
    grid.save(path)


def pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def render_table(res: dict) -> str:
    """Markdown summary for the terminal and the model card."""
    lines = [
        f"Sampler: {res['sampler']}, {res['steps']} steps, CFG {res['cfg']}, fixed seeds; "
        f"evaluated in {res['seconds']:.0f}s on {res['machine']}.",
        "",
        "| set | n | background | colour | shape | position | size |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, label in (
        ("checker_ground_truth", "checker on ground-truth renders"),
        ("held_out", "**held-out prompts** (unseen colour×shape×position)"),
        ("seen", "seen combinations (for comparison)"),
    ):
        r = res[key]
        lines.append(f"| {label} | {r['n']} | " + " | ".join(pct(r[a]) for a in ATTRS) + " |")
    vr = res["vae_reconstruction"]
    below = sorted(
        (kv for kv in vr["shape_by_size_and_kind"].items() if kv[1] < 1), key=lambda kv: kv[1]
    )
    lines += [
        "",
        f"VAE alone (encode + decode of {vr['n']} ground-truth renders, no UNet): the checker "
        f"recognises the shape kind in {pct(vr['shape'])}; below 100%: "
        + (", ".join(f"{k} {pct(v)}" for k, v in below) or "none")
        + f"; reconstruction MSE {vr['mse']:.4f} in [-1, 1] units.",
    ]
    ip = res["inpaint"]
    lines += [
        "",
        f"Inpainting ({ip['n']} cases: a generated picture of one large shape on the left, its "
        "right half masked, a different colour and kind asked for there; same pictures, masks "
        "and seeds for both prompt styles):",
        "",
        "| prompt | masked half: colour | kind | both | unmasked half identical after paste-back |",
        "|---|---|---|---|---|",
    ]
    for style in INPAINT_PROMPTS:
        r = ip[style]
        lines.append(
            f"| `{r['prompt']}` | {pct(r['masked_half_colour'])} | "
            f"{pct(r['masked_half_shape'])} | {pct(r['masked_half_colour_and_shape'])} | "
            f"{pct(r['unmasked_identical_after_paste'])} |"
        )
    lines += [
        "",
        f"Mean drift of the unmasked half before paste-back: "
        f"{ip['unmasked_mean_abs_drift_before_paste']:.1f}/255.",
        "",
        f"Held-out misses ({len(res['held_out_misses'])} of {res['held_out']['n']} prompts "
        "have at least one wrong attribute):",
        "",
    ]
    lines += [f"- {m}" for m in res["held_out_misses"]] or ["- none"]
    return "\n".join(lines)


def write_card(model: Path, table: str) -> None:
    """Replace the evaluation section of the model card between its markers."""
    card = model / "README.md"
    text = card.read_text(encoding="utf-8")
    start, end = text.index(CARD_START), text.index(CARD_END)
    card.write_text(
        text[: start + len(CARD_START)] + "\n" + table + "\n" + text[end:], encoding="utf-8"
    )


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--cfg", type=float, default=5.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--inpaint-n", type=int, default=20)
    p.add_argument("--limit", type=int, default=0, help="only the first N prompts (quick look)")
    p.add_argument("--write-card", action="store_true")
    p.add_argument("--json", type=Path, help="also dump the raw results here")
    p.add_argument("--grid", type=Path, help="save the held-out generations as a PNG grid")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    t0 = time.time()

    pipe = StableDiffusionPipeline.from_pretrained(args.model, dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    res: dict = {
        "sampler": type(pipe.scheduler).__name__,
        "steps": args.steps,
        "cfg": args.cfg,
        "machine": f"{os.cpu_count()} CPU cores",
    }
    gt = checker_on_ground_truth()
    res["checker_ground_truth"] = {**gt, "n": 500}
    for name, items in (("held_out", held_out_prompts()), ("seen", seen_prompts())):
        items = items[: args.limit] if args.limit else items
        seeds = [args.seed + 1000 + i for i in range(len(items))]
        imgs = generate(pipe, [it["prompt"] for it in items], seeds, args.steps, args.cfg)
        acc, misses = score(imgs, items)
        if args.grid and name == "held_out":
            save_grid(imgs, args.grid)
        res[name] = {**acc, "n": len(items)}
        res[f"{name}_misses"] = misses
    res["vae_reconstruction"] = vae_reconstruction(pipe.vae)
    res["inpaint"] = inpaint_check(pipe, args.steps, args.cfg, n=args.inpaint_n)
    res["seconds"] = time.time() - t0
    table = render_table(res)
    print(table)
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))
    if args.write_card:
        write_card(args.model, table)
        (args.model / "evaluation.json").write_text(json.dumps(res, indent=1))
    return res


if __name__ == "__main__":
    main()
