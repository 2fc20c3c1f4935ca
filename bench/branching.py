"""Branching: what recording every step costs, how much it keeps, and a branch vs a full run.

Bundled model, 20 steps, 1 torch thread. (a) `Engine.run` without a recorder vs with one (the
GUI records every generation), interleaved; (b) bytes kept per step for a deterministic, an
ancestral and a multistep sampler; (c) a branch from step 15 (5 steps left) vs the full run,
and whether it repeats the image bit for bit. Prints a table, or with --json one object:
{"record_overhead_ratio", "bytes_per_step", "branch_ms", "full_ms", "identical"}.

Run: python3 bench/branching.py [--repeats 7] [--json] [--write]
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import common  # puts this checkout first on sys.path
import numpy as np
from common import LoadTracker, header, interleaved, median_ms, parser, report, table, torch_threads

TITLE = "Branching"
STEPS, BRANCH_AT = 20, 15
SAMPLERS = ("euler", "euler_a", "dpmpp_2m")


def measure(engine, sampler: str, repeats: int) -> dict:
    from pipeline import GenerationRequest
    from pipeline.branching import StepRecorder

    request = GenerationRequest(prompt=common.PROMPT, sampler=sampler, steps=STEPS, seed=7)
    recorder = StepRecorder()
    original = engine.run(request, recorder=recorder)[0].image
    branch = request.replace(branch=recorder.point(BRANCH_AT))
    same = bool(np.array_equal(engine.run(branch)[0].image, original))
    times = interleaved(
        {
            "plain": lambda: engine.run(request),
            "recorded": lambda: engine.run(request, recorder=StepRecorder()),
            "branch": lambda: engine.run(branch),
        },
        repeats,
    )
    wall = {name: median_ms(t["wall"]) for name, t in times.items()}
    return {
        "sampler": sampler,
        "plain_ms": wall["plain"],
        "recorded_ms": wall["recorded"],
        "branch_ms": wall["branch"],
        "bytes_per_step": recorder.points[-2].nbytes(),
        "identical": same,
    }


def main() -> None:
    cli = parser(__doc__.split("\n")[0])
    cli.add_argument("--repeats", type=int, default=7)
    cli.add_argument("--json", action="store_true")
    args = cli.parse_args()
    from pipeline import Engine

    with tempfile.TemporaryDirectory() as out, torch_threads(1), LoadTracker() as load:
        engine = Engine(Path(out), device="cpu")
        engine.load(None)
        rows = [measure(engine, sampler, args.repeats) for sampler in SAMPLERS]
    if args.json:
        print(json.dumps({
            "record_overhead_ratio": max(r["recorded_ms"] / r["plain_ms"] for r in rows),
            "bytes_per_step": max(r["bytes_per_step"] for r in rows),
            "branch_ms": max(r["branch_ms"] for r in rows),
            "full_ms": max(r["plain_ms"] for r in rows),
            "identical": all(r["identical"] for r in rows),
        }))  # fmt: skip
        return
    head = ("sampler", "run ms", "recorded ms", "ratio", "KiB/step", "branch@15 ms", "identical")
    lines = [
        (r["sampler"], f"{r['plain_ms']:.0f}", f"{r['recorded_ms']:.0f}",
         f"{r['recorded_ms'] / r['plain_ms']:.3f}", f"{r['bytes_per_step'] / 1024:.1f}",
         f"{r['branch_ms']:.0f}", "yes" if r["identical"] else "NO")
        for r in rows
    ]  # fmt: skip
    body = "\n".join([
        f"`python3 bench/branching.py` — {header(load, threads=1)}",
        "",
        f"Bundled model (64², 16×16 latents), {STEPS} steps, 1 torch thread, median wall ms of "
        f"{args.repeats} interleaved runs, PNG writing included. ratio = recorded / plain "
        f"(target ≤ 1.05); branch@15 = a branch from step {BRANCH_AT} (5 steps and the decode "
        "left); identical = the branch repeats the image bit for bit.",
        "",
        "```", table(lines, head), "```",
    ])  # fmt: skip
    report(TITLE, body, args.write)


if __name__ == "__main__":
    main()
