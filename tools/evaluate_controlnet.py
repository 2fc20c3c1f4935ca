"""Does the scribble ControlNet control? IoU of the generated shape with the scribbled region.

Held-out cases: colour × shape × position triples never drawn in training (shapes_dataset),
prompts that name no position ("a red star, blue background"), and rough scribbles drawn with
another seed than training's. Each case is generated twice through Brushwork's own engine with
the same seed: without the ControlNet and with it (the scribble painted as black strokes on
white, read by the "scribble" preprocessor, as the app's paint layer would be). The generated
shape's mask is the largest blob far from the background colour (tools/shapes_checker.py);
the scribbled region is the filled shape the scribble outlines.

    python tools/evaluate_controlnet.py [--cases 40] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import shapes_checker as checker
import shapes_dataset as ds
from train_controlnet import DEFAULT_OUT, scribble

from pipeline import Engine, GenerationRequest
from pipeline.control import ControlUnit


def generated_mask(image: np.ndarray) -> np.ndarray:
    """The largest blob far from the border's colour (the checker's foreground rule)."""
    rgb = image.astype(np.float32)
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
    background = np.median(border, axis=0)
    foreground = np.sqrt(((rgb - background) ** 2).sum(-1)) > checker.FG_DISTANCE
    return checker._largest_component(foreground)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def cases(count: int, seed: int) -> list[tuple[ds.ShapeSpec, str, np.ndarray]]:
    """(shape, background, scribble as black strokes on white) per held-out case."""
    rng = random.Random(seed)
    triples = ds.held_out_triples()
    out = []
    for k in range(count):
        colour, shape, position = triples[k % len(triples)]
        background = rng.choice([c for c in ds.COLOURS if c != colour])
        size = rng.choice(ds.SIZES)
        spec = ds.scene_from_words(colour, shape, size, position, background, rng).shapes[0]
        strokes = scribble((spec,), rng, rough=True)
        out.append((spec, background, 255 - strokes))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--controlnet", type=Path, default=DEFAULT_OUT)
    p.add_argument("--cases", type=int, default=40)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--strength", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=2121)
    p.add_argument("--save", type=Path, default=None, help="write a contact sheet PNG here")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    engine = Engine(Path(tempfile.mkdtemp(prefix="cn-eval-")), device="cpu")
    rows, sheet, started = [], [], time.time()
    for k, (spec, background, painted) in enumerate(cases(args.cases, args.seed)):
        prompt = f"a {spec.colour} {spec.shape}, {background} background"
        base = GenerationRequest(prompt=prompt, steps=args.steps, seed=args.seed + k)
        unit = ControlUnit(painted, str(args.controlnet), "scribble", strength=args.strength)
        plain = engine.run(base)[0].image
        steered = engine.run(base.replace(controls=(unit,)))[0].image
        target = ds.render_mask(spec)
        found = [checker.analyse(image) for image in (plain, steered)]
        rows.append(
            {
                "prompt": prompt,
                "position": spec.position,
                "shape": spec.shape,
                "iou_without": iou(generated_mask(plain), target),
                "iou_with": iou(generated_mask(steered), target),
                "position_without": found[0].position == spec.position,
                "position_with": found[1].position == spec.position,
                "shape_with": found[1].shape == spec.shape,
                "shape_without": found[0].shape == spec.shape,
            }
        )
        sheet.append(np.concatenate([painted, plain, steered], axis=0))
    summary = summarise(rows, time.time() - started)
    if args.save:
        from PIL import Image

        Image.fromarray(np.concatenate(sheet[:16], axis=1)).save(args.save)
    if args.json:
        print(json.dumps({"summary": summary, "cases": rows}, indent=1))
    else:
        print_table(summary)
    return 0


def summarise(rows: list[dict], seconds: float) -> dict:
    def mean(key: str) -> float:
        return float(np.mean([r[key] for r in rows]))

    def follows(row: dict, suffix: str) -> bool:
        return row[f"position_{suffix}"] and row[f"iou_{suffix}"] >= 0.5

    return {
        "cases": len(rows),
        "mean_iou_without": mean("iou_without"),
        "mean_iou_with": mean("iou_with"),
        "position_without": mean("position_without"),
        "position_with": mean("position_with"),
        "shape_kind_without": mean("shape_without"),
        "shape_kind_with": mean("shape_with"),
        "follows_without": float(np.mean([follows(r, "without") for r in rows])),
        "follows_with": float(np.mean([follows(r, "with") for r in rows])),
        "seconds": round(seconds, 1),
        "load_average": os.getloadavg()[0],
    }


def print_table(s: dict) -> None:
    print(f"{s['cases']} held-out cases, load average {s['load_average']:.1f}, {s['seconds']} s")
    print("| | without ControlNet | with ControlNet |\n|---|---|---|")
    for label, key in (("mean IoU with the scribbled region", "mean_iou"),
                       ("position = scribble's", "position"),
                       ("follows (position right and IoU >= 0.5)", "follows"),
                       ("shape kind = scribble's", "shape_kind")):  # fmt: skip
        print(f"| {label} | {s[f'{key}_without']:.2f} | {s[f'{key}_with']:.2f} |")


if __name__ == "__main__":
    sys.exit(main())
