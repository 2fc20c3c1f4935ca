"""GUI responsiveness while generating: longest gap between ticks of a 5 ms QTimer on the GUI
thread, and the latency from a preview leaving the worker to the canvas being repainted with it.

Starts the real app (real engine, bundled model, offscreen) through bench/gui_probe.py, lets the
timer tick 1 s idle (the noise floor of this shared machine), then runs `--generations`
generations back to back with per-step previews. Target: longest gap ≤ 30 ms while generating.

Run: python3 bench/gui_responsiveness.py [--generations 5] [--write]
"""

from __future__ import annotations

import common  # noqa: F401  (puts this checkout first on sys.path)
import numpy as np
from common import STEPS, LoadTracker, header, parser, report, table
from gui_probe import run_probe

TITLE = "GUI responsiveness"


def gaps_ms(ticks: np.ndarray, start: float, end: float) -> np.ndarray:
    inside = ticks[(ticks >= start) & (ticks <= end)]
    return np.diff(inside) * 1000


def main() -> None:
    cli = parser(__doc__.split("\n")[0])
    cli.add_argument("--generations", type=int, default=5)
    args = cli.parse_args()
    with LoadTracker() as load:
        timeline = run_probe(generations=args.generations, idle_ms=1000)
    ticks = np.array(timeline["ticks"])
    first, last = timeline["generate"][0], timeline["finish"][-1]
    idle, busy = gaps_ms(ticks, ticks[0], first), gaps_ms(ticks, first, last)
    previews = [p for p in timeline["previews"] if p.get("painted") and p.get("emitted")]
    to_slot = np.array([p["shown"] - p["emitted"] for p in previews]) * 1000
    to_paint = np.array([p["painted"] - p["emitted"] for p in previews]) * 1000
    rows = [
        ("timer gap, idle (ms)", f"{np.median(idle):.1f}", f"{np.percentile(idle, 99):.1f}",
         f"{idle.max():.1f}"),
        ("timer gap, generating (ms)", f"{np.median(busy):.1f}", f"{np.percentile(busy, 99):.1f}",
         f"{busy.max():.1f}"),
        ("preview emitted → canvas updated (ms)", f"{np.median(to_slot):.1f}",
         f"{np.percentile(to_slot, 99):.1f}", f"{to_slot.max():.1f}"),
        ("preview emitted → canvas painted (ms)", f"{np.median(to_paint):.1f}",
         f"{np.percentile(to_paint, 99):.1f}", f"{to_paint.max():.1f}"),
    ]  # fmt: skip
    seconds = (last - first) / args.generations
    body = "\n".join([
        f"`python3 bench/gui_responsiveness.py` — {header(load)}",
        "",
        f"Real app, bundled model, {args.generations} generations of {STEPS} steps with previews "
        f"({seconds:.2f} s each, {len(previews)} previews painted), 5 ms PreciseTimer on the GUI "
        "thread. Target: longest gap ≤ 30 ms while generating.",
        "",
        "```", table(rows, ("", "median", "p99", "max")), "```",
    ])  # fmt: skip
    report(TITLE, body, args.write)


if __name__ == "__main__":
    main()
