"""Inpaint strength: how often the bundled model paints what the prompt asks into the masked half.

The init picture is the bundled model's own "a large yellow square on the left, purple
background" (seed 7); its right half is masked and inpainted with "a large red circle on the
right, purple background" at each strength, for 20 seeds, with the model card's sampler and CFG
(Euler, CFG 5; 20 steps). tools/shapes_checker.py (geometry on the known palette, never the
model) looks at the right half: "red circle" counts a red shape classified as a circle, "red
shape" any red shape. The left half is kept exactly by the paste-back, so it is not scored.

Run: python3 bench/inpaint_strength.py [--seeds 20] [--write]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's pipeline/, not an installed copy
sys.path.insert(0, str(ROOT / "tools"))  # shapes_checker imports shapes_dataset as a sibling

from shapes_checker import analyse  # noqa: E402

from bench.common import (  # noqa: E402
    BUNDLED_MODEL,
    LoadTracker,
    header,
    parser,
    report,
    table,
    torch_threads,
)
from pipeline import Engine, GenerationRequest, Mode, fields  # noqa: E402

TITLE = "Inpaint strength (bundled model)"
INIT_PROMPT = "a large yellow square on the left, purple background"
PROMPT = "a large red circle on the right, purple background"
STRENGTHS = (fields.default("strength", Mode.INPAINT), 0.75)


def main() -> None:
    args_parser = parser(__doc__.splitlines()[0])
    args_parser.add_argument("--seeds", type=int, default=20)
    args = args_parser.parse_args()
    model = str(BUNDLED_MODEL)
    # One thread: same-seed images are bit-identical only at equal thread counts.
    with tempfile.TemporaryDirectory() as out, torch_threads(1), LoadTracker() as tracker:
        engine = Engine(Path(out), device="cpu")
        init = engine.run(GenerationRequest(prompt=INIT_PROMPT, seed=7, model=model))[0].image
        height, width = init.shape[:2]
        mask = np.zeros((height, width), np.uint8)
        mask[:, width // 2 :] = 255
        right_half = (width // 2, 0, width, height)
        rows = []
        for strength in STRENGTHS:
            circles = red = 0
            started = time.perf_counter()
            for seed in range(args.seeds):
                request = GenerationRequest(
                    prompt=PROMPT, mode=Mode.INPAINT, init_image=init, mask=mask, seed=seed,
                    strength=strength, model=model,
                )  # fmt: skip
                image = engine.run(request)[0].image
                seen = analyse(image, right_half)
                print(f"strength {strength:g} seed {seed}: {seen}", file=sys.stderr, flush=True)
                red += seen.colour == "red"
                circles += seen.colour == "red" and seen.shape == "circle"
            seconds = (time.perf_counter() - started) / args.seeds
            counts = (f"{circles}/{args.seeds}", f"{red}/{args.seeds}")
            rows.append((f"{strength:g}", *counts, f"{seconds:.2f}"))
    body = "\n".join(
        [
            header(tracker, threads=1),
            f"Init: {INIT_PROMPT!r} (seed 7), right half masked; prompt {PROMPT!r}; Euler, CFG 5,",
            f"20 steps (the model card's), seeds 0…{args.seeds - 1}; checked by",
            "tools/shapes_checker.py in the right half.",
            "",
            "```",
            table(rows, ("strength", "red circle", "red shape", "s/image")),
            "```",
        ]
    )
    report(TITLE, body, args.write)


if __name__ == "__main__":
    main()
