"""Upscale cost on CPU with the bundled upscaler: seconds per output megapixel, and the peak
memory of a 4096² output (1024² ×4, tiled; target: under 4 GB).

Run: python3 bench/upscale.py [--write] [--json] [--threads 2] [--repeats 3] [--model FILE]
The peak is measured in a fresh child process (VmHWM), so the parent's own imports and the
time measurements do not count; it includes Python, torch and the model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from common import ROOT, LoadTracker, header, parser, report, table

TITLE = "Upscale (bundled upscaler, CPU)"
_PEAK_CHILD = """
import json, sys, numpy as np, torch
sys.path.insert(0, {root!r})
from pipeline.upscale import load_upscaler, resolve_upscaler
from common import peak_rss_bytes
torch.set_num_threads({threads})
upscaler = load_upscaler(resolve_upscaler({model!r}))
image = np.random.default_rng(0).integers(0, 256, ({size}, {size}, 3), dtype=np.uint8)
out = upscaler.upscale(image, 4)
print(json.dumps({{"shape": list(out.shape), "peak": peak_rss_bytes()}}))
"""


def seconds_per_megapixel(model: str | None, size: int, repeats: int) -> tuple[float, float]:
    """(wall, CPU) seconds per output megapixel, medians of `repeats` (CPU time is this
    process's own, less disturbed by other jobs on a shared machine)."""
    from pipeline.upscale import load_upscaler, resolve_upscaler

    upscaler = load_upscaler(resolve_upscaler(model))
    image = np.random.default_rng(1).integers(0, 256, (size, size, 3), dtype=np.uint8)
    upscaler.upscale(image[:64, :64], 4)  # warm-up
    wall, cpu = [], []
    for _ in range(repeats):
        started, cpu_started = time.perf_counter(), time.process_time()
        upscaler.upscale(image, 4)
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
    megapixels = (size * 4) ** 2 / 1e6
    return float(np.median(wall)) / megapixels, float(np.median(cpu)) / megapixels


def peak_memory(model: str | None, size: int, threads: int) -> dict:
    code = _PEAK_CHILD.format(root=str(ROOT), threads=threads, model=model, size=size)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).parent,
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["seconds"] = time.perf_counter() - started
    return result


def main() -> None:
    p = parser(__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--model", default=None, help="upscaler file (default: the bundled one)")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON line")
    args = p.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    with LoadTracker() as tracker:
        wall, cpu = seconds_per_megapixel(args.model, 256, args.repeats)
        peak = peak_memory(args.model, 1024, args.threads)
    if args.json:
        figures = {
            "seconds_per_output_megapixel": round(wall, 3),
            "cpu_seconds_per_output_megapixel": round(cpu, 3),
            "peak_rss_gib_4096": round(peak["peak"] / 2**30, 3),
            "load_average": [round(x, 2) for x in os.getloadavg()],
        }
        print(json.dumps(figures))
        return
    rows = [
        [
            "256² → 1024² (×4)",
            f"{wall:.2f} s wall, {cpu:.2f} s CPU per output megapixel",
        ],
        [
            "1024² → 4096² (×4, tiled)",
            f"peak RSS {peak['peak'] / 2**30:.2f} GiB (target < 4 GB), "
            f"{peak['seconds']:.0f} s with start-up",
        ],
    ]
    body = "\n".join(
        [header(tracker, args.threads), "", "```", table(rows, ["case", "figure"]), "```"]
    )
    report(TITLE, body, args.write)


if __name__ == "__main__":
    main()
