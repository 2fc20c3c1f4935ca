"""Scaling: time per step against resolution (64² … 512²) and against batch size, bundled model.

Time per step is the median gap between consecutive step callbacks (UNet with CFG + sampler +
preview), so prompt encoding and VAE decoding are left out; it is also given per megapixel-image
to show how close to linear in pixels the cost is.

Run: python3 bench/scaling.py [--threads 2] [--write]
"""

from __future__ import annotations

import itertools
import statistics
import tempfile
import time
from pathlib import Path

import common  # noqa: F401  (puts this checkout first on sys.path)
from common import (
    CFG,
    PROMPT,
    SAMPLER,
    LoadTracker,
    header,
    parser,
    report,
    table,
    torch_threads,
)

TITLE = "Scaling"
SIDES = (64, 128, 256, 512)
BATCHES = (1, 2, 4, 8)


def step_seconds(engine, side: int, batch: int, steps: int) -> float:
    from pipeline import GenerationRequest

    stamps: list[float] = []
    request = GenerationRequest(prompt=PROMPT, sampler=SAMPLER, steps=steps, guidance=CFG,
                                seed=5, width=side, height=side, batch_size=batch)  # fmt: skip
    engine.run(request, on_step=lambda _u: stamps.append(time.perf_counter()))
    return statistics.median(b - a for a, b in itertools.pairwise(stamps))


def main() -> None:
    cli = parser(__doc__.split("\n")[0])
    cli.add_argument("--threads", type=int, default=2)
    args = cli.parse_args()
    from pipeline import Engine

    rows = []
    with tempfile.TemporaryDirectory() as out, torch_threads(args.threads), \
            LoadTracker() as load:  # fmt: skip
        engine = Engine(Path(out), device="cpu")
        engine.load(None)
        step_seconds(engine, 64, 1, 3)  # warm-up
        cases = [(side, 1) for side in SIDES] + [(64, batch) for batch in BATCHES[1:]]
        for side, batch in cases:
            steps = 9 if side * side * batch <= 128 * 128 else 5
            seconds = step_seconds(engine, side, batch, steps)
            megapixels = side * side * batch / 1e6
            rows.append((f"{side}×{side}", batch, f"{side // 4}×{side // 4}",
                         f"{seconds * 1000:.1f}", f"{seconds / megapixels:.2f}"))  # fmt: skip
    body = "\n".join([
        f"`python3 bench/scaling.py` — {header(load, threads=args.threads)}",
        "",
        f"Bundled model, {SAMPLER}, CFG {CFG} (UNet batch = 2 × batch), median step time.",
        "",
        "```",
        table(rows, ("size", "batch", "latents", "ms per step", "s per megapixel")),
        "```",
    ])  # fmt: skip
    report(TITLE, body, args.write)


if __name__ == "__main__":
    main()
