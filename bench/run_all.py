"""Runs every CPU benchmark one after another, each in its own process (so one's imports and
memory do not colour the next's figures), passing --write through.

Run: python3 bench/run_all.py [--write]   (about 10 minutes on 2 shared cores)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
SCRIPTS = ("engine_overhead.py", "preview_cost.py", "gui_responsiveness.py", "startup.py",
           "memory_growth.py", "mode_switch.py", "scaling.py")  # fmt: skip


def main() -> int:
    failed = []
    for script in SCRIPTS:
        print(f"=== {script}", flush=True)
        done = subprocess.run([sys.executable, str(BENCH / script), *sys.argv[1:]], cwd=BENCH)
        if done.returncode != 0:
            failed.append(script)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
