"""Live mode's steps and strength for the bundled model, chosen by measurement.

Task (as in issue 18): a rough sketch (a wobbly polygon in a colour near a palette colour on a
flat background: a quadrilateral for a triangle, a jagged hexagon for a circle, a skewed box for
a square, filled with quick 3 px brush strokes that leave gaps; the checker recognises none of
them) is refined by img2img with a prompt naming the clean shape. Quality is what
tools/shapes_checker.py (pixels only, never the model) reads back: the share of results whose
shape, colour, background and position all match the prompt. Time is the median wall and CPU
time of one img2img (bundled model, 64², CPU, torch on `--threads` threads: 1 by default, since
two threads on a shared, overloaded 2-core machine spin-wait each other into 10-30 s per image).
Every (steps, strength) pair runs the same sketches and seeds.

Run: python3 bench/live_presets.py [--sketches 16] [--threads 1] [--write]
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time

import common
import numpy as np
from common import BUNDLED_MODEL, LoadTracker, header, parser, report, table
from PIL import Image, ImageDraw

sys.path.insert(0, str(common.ROOT / "tools"))
import shapes_checker as checker
import shapes_dataset as dataset

TITLE = "Live presets (bundled model)"
STEPS = (4, 6, 8, 12)
STRENGTHS = (0.5, 0.6, 0.7, 0.8, 0.9)
SHAPES = ("triangle", "circle", "square")
POSITIONS = ("center", "left", "right")
BACKGROUNDS = ("blue", "yellow", "white", "green")
COLOURS = ("red", "orange", "purple", "black", "cyan")


def rough_outline(shape: str, cx: float, cy: float, r: float, rng: random.Random) -> list:
    """A sketch of `shape` as a hurried painter draws it: too few corners, wobbly edges."""
    if shape == "triangle":  # the "rough red quadrilateral"
        corners = [(cx, cy - r), (cx + r, cy + 0.8 * r), (cx - r, cy + 0.8 * r), (cx - 0.3 * r, cy)]
    elif shape == "circle":
        corners = [(cx + r * np.cos(a), cy + r * np.sin(a)) for a in np.arange(6) * np.pi / 3]
    else:
        corners = [(cx - 0.9 * r, cy - r), (cx + r, cy - 0.8 * r), (cx + 0.8 * r, cy + r),
                   (cx - r, cy + 0.9 * r)]  # fmt: skip
    return [(x + rng.uniform(-3, 3), y + rng.uniform(-3, 3)) for x, y in corners]


def sketch(rng: random.Random) -> tuple[np.ndarray, dict]:
    shape, position = rng.choice(SHAPES), rng.choice(POSITIONS)
    background = rng.choice(BACKGROUNDS)
    colour = rng.choice([c for c in COLOURS if c != background])
    ink = tuple(min(255, max(0, v + rng.randint(-25, 25))) for v in dataset.PALETTE[colour])
    cx, cy = dataset.ANCHORS[position]
    area = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(area).polygon(rough_outline(shape, cx, cy, 14.0, rng), fill=255)
    inside = np.asarray(area) > 0
    # Filled with quick brush strokes: 3 px lines with 2 px gaps, each with a ragged end.
    rows = (np.arange(64) % 5 < 3)[:, None] & inside
    ragged = np.arange(64)[None, :] < np.array([rng.randint(40, 64) for _ in range(64)])[:, None]
    pixels = np.empty((64, 64, 3), np.uint8)
    pixels[:] = dataset.PALETTE[background]
    pixels[rows & ragged] = ink
    image = Image.fromarray(pixels)
    where = dataset.POSITION_PHRASES[position]
    prompt = f"a large {colour} {shape} {where}, {background} background"
    wanted = {"shape": shape, "colour": colour, "background": background, "position": position}
    return np.asarray(image), {"prompt": prompt, **wanted}


def correct(image: np.ndarray, wanted: dict) -> bool:
    found = checker.analyse(image)
    return all(getattr(found, key) == wanted[key] for key in ("shape", "colour", "background",
                                                              "position"))  # fmt: skip


def main() -> None:
    cli = parser(__doc__.split("\n")[0])
    cli.add_argument("--sketches", type=int, default=12)
    cli.add_argument("--threads", type=int, default=1)
    args = cli.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from pipeline import Engine, GenerationRequest, Mode

    rng = random.Random(18)
    tasks = [sketch(rng) for _ in range(args.sketches)]
    configs = [(steps, strength) for steps in STEPS for strength in STRENGTHS]
    hits = {c: 0 for c in configs}
    times: dict[tuple[int, float], list[float]] = {c: [] for c in configs}
    cpu: dict[tuple[int, float], list[float]] = {c: [] for c in configs}
    with tempfile.TemporaryDirectory() as out, LoadTracker() as load:
        engine = Engine(out, device="cpu", previews=False)
        engine.load(str(BUNDLED_MODEL))
        for k, (image, wanted) in enumerate(tasks):
            for steps, strength in configs:
                request = GenerationRequest(
                    wanted["prompt"], mode=Mode.IMG2IMG, init_image=image, steps=steps,
                    strength=strength, seed=1000 + k, model=str(BUNDLED_MODEL),
                )  # fmt: skip
                started, cpu_started = time.perf_counter(), time.process_time()
                result = engine.run(request, save=False)[0]
                times[(steps, strength)].append(time.perf_counter() - started)
                cpu[(steps, strength)].append(time.process_time() - cpu_started)
                hits[(steps, strength)] += correct(result.image, wanted)
    baseline = sum(correct(image, wanted) for image, wanted in tasks)
    rows = [
        (f"{steps} × {strength:.1f}", int(steps * strength),
         f"{100 * hits[(steps, strength)] / len(tasks):.0f}%",
         f"{1000 * statistics.median(times[(steps, strength)]):.0f}",
         f"{1000 * statistics.median(cpu[(steps, strength)]):.0f}")
        for steps, strength in configs
    ]  # fmt: skip
    body = "\n".join([
        f"`python3 bench/live_presets.py` — {header(load, args.threads)}",
        "",
        f"{len(tasks)} rough sketches (shape/colour/background/position all right per "
        f"tools/shapes_checker.py; the sketches themselves: {baseline}/{len(tasks)}), img2img "
        "64², Euler, CFG 5, seeds fixed per sketch.",
        "",
        "```",
        table(rows, ("steps × strength", "steps run", "refined", "wall ms", "CPU ms")),
        "```",
    ])  # fmt: skip
    report(TITLE, body, args.write)


if __name__ == "__main__":
    main()
