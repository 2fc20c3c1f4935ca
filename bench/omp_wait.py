"""OpenMP wait policy: a short img2img (bundled model, 6 steps × 0.6, 64²) timed with torch's
threads spinning (OMP_WAIT_POLICY=ACTIVE, libgomp's default) and passive (Brushwork's default,
pipeline/__init__.py), while another process keeps one core busy, as a desktop's other programs
and the GUI thread do. Prints median and worst seconds per image for each.

    python bench/omp_wait.py [--runs 8] [--idle]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHILD = r"""
import json, sys, tempfile, time
import numpy as np
from pipeline import GenerationRequest
from pipeline.engine import Engine
from pipeline.request import Mode
engine = Engine(output_dir=tempfile.mkdtemp())
image = np.full((64, 64, 3), (40, 80, 220), np.uint8)
image[20:44, 20:44] = (220, 40, 40)
request = GenerationRequest(prompt="a large red triangle, blue background", mode=Mode.IMG2IMG,
                            init_image=image, strength=0.6, steps=6, seed=1, width=64, height=64)
engine.run(request, save=False)
times = []
for _ in range(int(sys.argv[1])):
    start = time.perf_counter()
    engine.run(request, save=False)
    times.append(time.perf_counter() - start)
print(json.dumps(times))
"""


def busy() -> None:
    while True:
        pass


def timed(policy: str, runs: int) -> list[float]:
    env = {**os.environ, "OMP_WAIT_POLICY": policy, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", CHILD, str(runs)], env=env, capture_output=True,
                          text=True, check=True)  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--idle", action="store_true", help="no busy process beside it")
    args = parser.parse_args()
    hog = None if args.idle else multiprocessing.Process(target=busy, daemon=True)
    if hog is not None:
        hog.start()
    try:
        for policy in ("ACTIVE", "PASSIVE", "ACTIVE", "PASSIVE"):
            times = sorted(timed(policy, args.runs))
            median = times[len(times) // 2]
            print(f"{policy:8} median {median:.3f} s, worst {times[-1]:.3f} s ({args.runs} runs)")
    finally:
        if hog is not None:
            hog.terminate()
    print(f"load average {os.getloadavg()[0]:.1f}; {'idle' if args.idle else 'one core kept busy'}")


if __name__ == "__main__":
    main()
