"""Tiled refine seams: overlapping feathered tiles vs naive edge-to-edge tiles.

A 64² bundled-model generation is made 4× larger (Lanczos, so only the refine differs), then
re-diffused in 64² tiles (the model's native size) with overlap 0 (naive) and 16 px (Brushwork's
default, a quarter tile). pipeline.seams.seam_metric is measured on a checkerboard of each run's
own tiles (every tile edge is a border), and on the unrefined image over the same cells as the
floor. Lower is better; about 1 or less means no jump beyond the ordinary pixel-to-pixel change.

Run: python3 bench/tiled_refine.py [--write] [--seeds 3] [--strength 0.35]
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from common import (
    BUNDLED_MODEL,
    CFG,
    PROMPT,
    SAMPLER,
    STEPS,
    LoadTracker,
    header,
    parser,
    report,
    table,
)
from PIL import Image

TITLE = "Tiled refine seams (bundled model)"


def checkerboard(size: int, starts: tuple[int, ...]) -> np.ndarray:
    cells = np.searchsorted(np.array(starts[1:]), np.arange(size), side="right")
    return np.where((cells[:, None] + cells[None, :]) % 2, 255, 0).astype(np.uint8)


def main() -> None:
    p = parser(__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--strength", type=float, default=0.35)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    import torch

    from pipeline import Engine, GenerationRequest
    from pipeline.seams import seam_metric
    from pipeline.tiled_refine import plan_tiles, refine_tiled

    torch.set_num_threads(args.threads)
    engine = Engine(Path(tempfile.mkdtemp()), "cpu", previews=False)
    base = dict(prompt=PROMPT, sampler=SAMPLER, steps=STEPS, guidance=CFG, model=str(BUNDLED_MODEL))
    rows = []
    with LoadTracker() as tracker:
        for seed in range(args.seeds):
            small = engine.run(GenerationRequest(**base, seed=seed, width=64, height=64))[0].image
            big = np.asarray(Image.fromarray(small).resize((256, 256), Image.LANCZOS))
            request = GenerationRequest(**base, seed=seed, width=64, height=64).replace(
                strength=args.strength
            )
            row = [f"seed {seed}"]
            for overlap in (0, 16):
                started = time.perf_counter()
                refined = refine_tiled(engine, big, request, overlap)
                seconds = time.perf_counter() - started
                tiles = plan_tiles(256, 256, 64, overlap)
                cells = checkerboard(256, tiles.xs)
                row += [
                    f"{seam_metric(big, cells):.2f}",
                    f"{seam_metric(refined, cells):.2f}",
                    f"{seconds:.1f} s",
                ]
            rows.append(row)
    head = ["", "naive: before", "naive: refined", "time", "overlap 16: before", "refined", "time"]
    body = "\n".join(
        [
            header(tracker, args.threads),
            f"256² (64² generation, Lanczos ×4), tiles 64², strength {args.strength:g}, "
            f"{STEPS} steps; seam metric on each run's own tile borders.",
            "",
            "```",
            table(rows, head),
            "```",
        ]
    )
    report(TITLE, body, args.write)


if __name__ == "__main__":
    main()
