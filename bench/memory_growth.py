"""Memory: RSS after 1 and after N generations in one Engine (growth target ≤ 50 MB), and the
peak RSS during one run; also through the GUI worker's path (preview → QImage each step).

RSS and its peak (VmHWM, reset between phases) come from /proc/self/status.

Run: python3 bench/memory_growth.py [--generations 50] [--write]
"""

from __future__ import annotations

import gc
import tempfile
from pathlib import Path

import common  # noqa: F401  (puts this checkout first on sys.path)
from common import (
    CFG,
    PROMPT,
    SAMPLER,
    SIZE,
    STEPS,
    LoadTracker,
    header,
    parser,
    peak_rss_bytes,
    report,
    reset_peak_rss,
    rss_bytes,
    table,
)

TITLE = "Memory"
MB = 1024 * 1024


def measure(engine, on_step, generations: int) -> tuple[float, float, float, float]:
    """RSS (MB) after 1 and after `generations` runs, growth, and the peak during one run."""
    from pipeline import GenerationRequest

    request = GenerationRequest(prompt=PROMPT, sampler=SAMPLER, steps=STEPS, guidance=CFG,
                                seed=1, width=SIZE, height=SIZE)  # fmt: skip
    engine.run(request, on_step=on_step)
    gc.collect()
    before = rss_bytes()
    reset_peak_rss()
    engine.run(request.replace(seed=2), on_step=on_step)
    peak = peak_rss_bytes()
    for k in range(3, generations + 1):
        engine.run(request.replace(seed=k), on_step=on_step)
    gc.collect()
    after = rss_bytes()
    return before / MB, after / MB, (after - before) / MB, peak / MB


def main() -> None:
    cli = parser(__doc__.split("\n")[0])
    cli.add_argument("--generations", type=int, default=50)
    args = cli.parse_args()
    from pipeline import Engine

    rows = []
    with tempfile.TemporaryDirectory() as out, LoadTracker() as load:
        engine = Engine(Path(out), device="cpu")
        engine.load(None)
        previews = []
        plain = measure(engine, lambda u: previews.append(u.preview.shape), args.generations)
        rows.append(("engine, previews on", *plain))
        from gui.images import array_to_qimage

        images = []

        def to_qimage(update) -> None:  # what GenerationWorker._step does with each preview
            images[:] = [array_to_qimage(update.preview)]

        rows.append(("engine + QImage per step", *measure(engine, to_qimage, args.generations)))
    body = "\n".join([
        f"`python3 bench/memory_growth.py` — {header(load)}",
        "",
        f"One Engine, bundled model, {STEPS} steps {SIZE}², the first generation before the "
        f"'after 1' reading; growth is 'after {args.generations}' − 'after 1'. Target: growth "
        "≤ 50 MB.",
        "",
        "```",
        table([(r[0], *(f"{v:.1f}" for v in r[1:])) for r in rows],
              ("MB", "RSS after 1", f"RSS after {args.generations}", "growth",
               "peak during a run")),
        "```",
    ])  # fmt: skip
    report(TITLE, body, args.write)


if __name__ == "__main__":
    main()
