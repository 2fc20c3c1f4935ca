"""bench/gpu_check.sh --tiny: the GPU check's whole flow on CPU with tiny models, so the script
that runs when a GPU is lent is known to work before it gets one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_tiny_runs_every_row_and_the_self_test() -> None:
    # Only the rows that differ in code path; the compile backend "eager" needs no compiler.
    command = ["bash", "bench/gpu_check.sh", "--tiny", "--json", "--backend", "eager",
               "--steps", "2", "--arch", "sd15", "--budget", "900",
               "--skip", "cuda graphs", "deepcache (approx.)"]  # fmt: skip
    env = dict(os.environ, PYTHON=sys.executable, QT_QPA_PLATFORM="offscreen")
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=1200)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith('{"machine"'))
    figures = json.loads(line)
    rows = {row[1]: row for row in figures["rows"]}
    assert list(rows) == ["plain diffusers", "brushwork default", "channels_last",
                          "taesd decode (approx.)", "compile", "all exact"]  # fmt: skip
    for name in ("channels_last", "compile", "all exact"):
        its, psnr = rows[name][2], rows[name][4]
        assert float(its) > 0, rows[name]
        assert psnr == "identical" or float(psnr) >= 35, rows[name]  # exact within rounding
    assert int(rows["compile"][5]) >= 0  # the warm-up was waited for and timed
    assert rows["taesd decode (approx.)"][4] != "identical"  # TAESD really decoded
    live = {row[0]: row for row in figures["live"]}
    assert list(live) == ["live, 4 LCM steps", "live, 4 LCM steps + taesd decode"]
    for name, results_per_s, ms in live.values():
        assert float(results_per_s) > 0 and float(ms) > 0, name
    assert figures["self_test"][0] == "passed", figures["self_test"]
    assert "## GPU check" in done.stdout
