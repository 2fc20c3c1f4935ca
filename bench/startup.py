"""Start-up: process start → main window shown and painted, → model loaded, → first preview.

Starts the real app (`gui.app.main` with the real engine and the bundled model, offscreen) in a
fresh process several times through bench/gui_probe.py, which presses Generate as soon as the
model is loaded. Also records which of torch/diffusers/transformers were imported when the window
was shown: none may be (the worker thread imports them, after the window is up).
Target: window shown ≤ 1.5 s.

Run: python3 bench/startup.py [--runs 3] [--write]
"""

from __future__ import annotations

import statistics

import common  # noqa: F401  (puts this checkout first on sys.path)
from common import LoadTracker, header, parser, report, table
from gui_probe import run_probe

TITLE = "Start-up"
COLUMNS = (("shown", "window shown"), ("painted", "first paint"), ("loaded", "model loaded"),
           ("first_preview_shown", "first preview"))  # fmt: skip


def main() -> None:
    cli = parser(__doc__.split("\n")[0])
    cli.add_argument("--runs", type=int, default=3)
    args = cli.parse_args()
    rows, imported = [], set()
    with LoadTracker() as load:
        for run in range(1, args.runs + 1):
            timeline = run_probe(generations=1)
            imported.update(timeline["shown"]["imported"])
            rows.append([f"run {run}", *(f"{timeline[key]['t']:.2f}" for key, _ in COLUMNS)])
    medians = [statistics.median(float(row[i]) for row in rows) for i in range(1, len(COLUMNS) + 1)]
    rows.append(["median", *(f"{m:.2f}" for m in medians)])
    head = ("seconds from process start", *(label for _, label in COLUMNS))
    body = "\n".join([
        f"`python3 bench/startup.py` — {header(load)}",
        "",
        "Real app (`gui.app.main`, real engine, bundled model, offscreen Qt), fresh process each "
        "run; Generate is pressed as soon as the model is loaded. Target: window shown ≤ 1.5 s.",
        "",
        "```", table(rows, head), "```",
        "",
        "ML modules imported when the window was shown: "
        + (", ".join(sorted(imported)) if imported else "none (torch, diffusers and transformers "
           "are imported later, by the worker thread)"),
    ])  # fmt: skip
    report(TITLE, body, args.write)


if __name__ == "__main__":
    main()
