"""Live painting: the real window (offscreen, real engine, bundled model, 64² canvas) with Live on,
painted with real mouse strokes (QTest events on the canvas viewport).

Measures, from the mouse release that ends a stroke:
  stroke → preview   the Live view painted the first step preview of a job started after it
  stroke → result    the Live view painted the first result of a job started after it
(isolated strokes: each waits for its result), then paints continuously (a 250 ms stroke every
350 ms) and counts Live results per second, stale jobs cancelled per result, and the longest gap
between ticks of a 5 ms timer on the GUI thread (a GUI stall). Targets (issue 18, 2 CPU cores):
stroke → result p50 ≤ 400 ms, ≥ 2 results/s, stall ≤ 30 ms.

Each stroke is the colour brush (red, img2img mode) on the paint layer: one edit per stroke.

Run: python3 bench/live_painting.py [--strokes 10] [--seconds 10] [--json] [--write]
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from dataclasses import replace

TMP = tempfile.mkdtemp(prefix="brushwork-live-bench-")
for _var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
    os.environ[_var] = os.path.join(TMP, _var)  # the user's settings and session stay untouched
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["HF_HUB_OFFLINE"] = "1"

import common  # noqa: E402  (puts this checkout first on sys.path)
import numpy as np  # noqa: E402
from common import LoadTracker, header, parser, report, table  # noqa: E402

TITLE = "Live painting"
PROMPT = "a large red circle in the center, blue background"
SIZE = 64
RED, DARK_RED, BLUE = (220, 40, 40), (190, 30, 50), (40, 80, 220)
TICK_MS = 5


def pump(seconds: float) -> None:
    """Runs the event loop for `seconds` (QTest.qWait would hold the GIL from the worker)."""
    from PySide6.QtWidgets import QApplication

    end = time.perf_counter() + seconds
    while True:
        QApplication.processEvents()
        if time.perf_counter() >= end:
            return
        time.sleep(0.002)


def paint_stroke(window, points: list[tuple[float, float]], seconds: float) -> float:
    """One stroke through `points` (image pixels) with real mouse events, over `seconds`;
    returns the time of the mouse release (the colour brush, chosen in `prepare`). Strokes take
    turns with two reds: red over the same red changes nothing, and Live starts no job for it."""
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtGui import QColor
    from PySide6.QtTest import QTest

    canvas = window.canvas
    viewport = canvas.viewport()
    shade = RED if canvas.color != QColor(*RED) else DARK_RED
    canvas.set_color(QColor(*shade))
    # A hand picks a colour and then reaches the canvas: events of their own. Pressing in the
    # same turn would add this script's work (the points, the colour) to the stroke's stall.
    pump(0.02)

    def at(point: tuple[float, float]) -> QPoint:
        return canvas.mapFromScene(*point)

    left = Qt.MouseButton.LeftButton
    QTest.mousePress(viewport, left, Qt.KeyboardModifier.NoModifier, at(points[0]))
    for point in points[1:]:
        pump(seconds / len(points))
        QTest.mouseMove(viewport, at(point))
    released = time.perf_counter()  # Live may start its job inside the release event itself
    QTest.mouseRelease(viewport, left, Qt.KeyboardModifier.NoModifier, at(points[-1]))
    return released


def stroke_points(k: int, count: int = 16) -> list[tuple[float, float]]:
    """A short arc, a different one each time, around the canvas centre."""
    angle = 2.4 * k
    centre = np.array([SIZE / 2, SIZE / 2]) + 10 * np.array([np.cos(angle), np.sin(angle)])
    ts = np.linspace(0, 1, count)
    arc = [centre + 9 * np.array([np.cos(angle + 2 * t), np.sin(angle + 2 * t)]) for t in ts]
    return [(float(x), float(y)) for x, y in arc]


def paint_for(window, seconds: float, first: int) -> int:
    """Paints continuously (a 250 ms stroke, 100 ms pause, …) for `seconds`; the stroke count."""
    start, k = time.perf_counter(), first
    while time.perf_counter() - start < seconds:
        paint_stroke(window, stroke_points(k), 0.25)
        pump(0.1)
        k += 1
    return k - first


class Probe:
    """Hooks into the app from outside: job starts, previews/results painted, timer ticks."""

    def __init__(self, window) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.jobs: dict[int, float] = {}  # Live job id → start time
        self.previews: list[tuple[float, int]] = []  # (painted, job)
        self.results: list[tuple[float, int]] = []
        self.ticks: list[float] = []
        self._unpainted: list[tuple[list, int]] = []
        live, controller = window.live, window.controller
        original = controller.run_live

        def run_live(request):
            job = original(request)
            if job:
                self.jobs[job] = time.perf_counter()
            return job

        controller.run_live = run_live
        live.previewed.connect(lambda _: self._unpainted.append((self.previews, live.running_job)))
        controller.live_ended.connect(
            lambda job, results, _e: results and self._unpainted.append((self.results, job))
        )
        window.live_view.image.painted.connect(self._painted)
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(lambda: self.ticks.append(time.perf_counter()))
        self.timer.start()

    def _painted(self) -> None:
        now = time.perf_counter()
        for where, job in self._unpainted:
            where.append((now, job))
        self._unpainted.clear()

    def first_after(self, kind: list[tuple[float, int]], stroke_end: float) -> float | None:
        """Seconds from `stroke_end` to the first paint of a job started after it."""
        times = [t for t, job in kind if self.jobs.get(job, -1) >= stroke_end and t > stroke_end]
        return min(times) - stroke_end if times else None

    def max_gap_ms(self, start: float, end: float) -> float:
        inside = np.array([t for t in self.ticks if start <= t <= end])
        return float(np.diff(inside).max() * 1000) if len(inside) > 1 else float("nan")


def prepare(app) -> None:
    from PySide6.QtGui import QColor

    from gui.panels import CanvasMode

    window = app.window
    window.doc.replace(np.full((SIZE, SIZE, 3), BLUE, np.uint8), "Blank blue")
    window.canvas.fit()
    window.panel.set_mode(CanvasMode.IMG2IMG)
    window.canvas.set_tool("brush")
    window.canvas.set_color(QColor(*RED))
    window.panel.prompt.setPlainText(PROMPT)
    window.canvas.set_brush(replace(window.canvas.brush, size=10))


def start_app():
    from PySide6.QtWidgets import QApplication

    from gui.app import BrushworkApp
    from gui.settings import Settings
    from gui.worker import engine_factory

    qt = QApplication.instance() or QApplication(sys.argv[:1])
    out = os.path.join(TMP, "outputs")
    settings = Settings()
    settings.device = "cpu"
    app = BrushworkApp(engine_factory(out, settings), out, str(common.BUNDLED_MODEL),
                       settings=settings)  # fmt: skip
    app.start(preload=True)
    loaded: list[str] = []
    app.worker.model_loaded.connect(lambda name, _d: loaded.append(name))
    deadline = time.perf_counter() + 300
    while not loaded and time.perf_counter() < deadline:
        pump(0.05)
    return qt, app


def wait_until(condition, timeout: float) -> bool:
    end = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > end:
            return False
        pump(0.005)
    return True


def measure(strokes: int, seconds: float) -> dict:
    qt, app = start_app()
    window = app.window
    prepare(app)
    probe = Probe(window)
    live = window.live
    baseline_start = time.perf_counter()
    paint_for(window, seconds / 2, first=1000)  # Live off: the stalls painting itself makes
    baseline_stall = probe.max_gap_ms(baseline_start, time.perf_counter())
    window.live_action.setChecked(True)  # View → Live mode: shows the Live panel too
    wait_until(lambda: probe.results, 120)  # the first result: the model is warm
    to_preview, to_result = [], []
    for k in range(strokes):  # isolated strokes: each waits for its result
        ended = paint_stroke(window, stroke_points(k), 0.25)
        wait_until(lambda e=ended: probe.first_after(probe.results, e) is not None, 30)
        preview, result = (
            probe.first_after(probe.previews, ended),
            probe.first_after(probe.results, ended),
        )
        if preview is not None:
            to_preview.append(preview * 1000)
        if result is not None:
            to_result.append(result * 1000)
        pump(0.3)
    results_before, cancelled_before = len(probe.results), live.cancelled_jobs
    start = time.perf_counter()
    painted = paint_for(window, seconds, first=strokes)
    end = time.perf_counter()
    results = len([t for t, _ in probe.results if start <= t <= end])
    cancelled = live.cancelled_jobs - cancelled_before
    figures = {
        "stroke_to_preview_ms_p50": _pct(to_preview, 50),
        "stroke_to_preview_ms_p95": _pct(to_preview, 95),
        "stroke_to_result_ms_p50": _pct(to_result, 50),
        "stroke_to_result_ms_p95": _pct(to_result, 95),
        "results_per_s": results / (end - start),
        "cancelled_per_result": cancelled / results if results else float("nan"),
        "max_gui_stall_ms": probe.max_gap_ms(start, end),
        "live_off_gui_stall_ms": baseline_stall,
        "strokes_painting": painted,
        "results_total": len(probe.results) - results_before,
    }
    window.live_action.setChecked(False)
    app.shutdown()
    qt.processEvents()
    return figures


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def main() -> None:
    cli = parser(__doc__.split("\n")[0])
    cli.add_argument("--strokes", type=int, default=10, help="isolated strokes for latency")
    cli.add_argument("--seconds", type=float, default=10.0, help="of continuous painting")
    cli.add_argument("--json", action="store_true", help="print the four figures as JSON")
    cli.add_argument("--threads", type=int, default=0,
                     help="torch threads (0: as the app sets them); on a shared, overloaded "
                     "machine 1 avoids OpenMP spin-waiting")  # fmt: skip
    args = cli.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    with LoadTracker() as load:
        figures = measure(args.strokes, args.seconds)
    threads = args.threads or None
    if args.json:
        keys = ("stroke_to_preview_ms_p50", "stroke_to_result_ms_p50", "results_per_s",
                "max_gui_stall_ms")  # fmt: skip
        print(json.dumps({key: round(figures[key], 3) for key in keys}))
        return
    f = figures
    rows = [
        ("stroke → first Live preview painted (ms)", f"{f['stroke_to_preview_ms_p50']:.0f}",
         f"{f['stroke_to_preview_ms_p95']:.0f}"),
        ("stroke → Live result painted (ms)", f"{f['stroke_to_result_ms_p50']:.0f}",
         f"{f['stroke_to_result_ms_p95']:.0f}"),
    ]  # fmt: skip
    body = "\n".join([
        f"`python3 bench/live_painting.py{f' --threads {args.threads}' if args.threads else ''}`"
        f" — {header(load, threads)}",
        "",
        f"Real window offscreen, bundled model, 64² canvas, Live preset (see live_presets), "
        f"{args.strokes} isolated strokes, then {args.seconds:.0f} s of continuous painting "
        f"({f['strokes_painting']} strokes). Targets: result p50 ≤ 400 ms, ≥ 2 results/s, "
        "stall ≤ 30 ms.",
        "",
        "```", table(rows, ("", "p50", "p95")),
        f"Live results per second while painting: {f['results_per_s']:.2f}",
        f"stale jobs cancelled per result: {f['cancelled_per_result']:.2f}",
        f"longest GUI stall while painting with Live on: {f['max_gui_stall_ms']:.1f} ms "
        f"(the same painting with Live off: {f['live_off_gui_stall_ms']:.1f} ms)",
        "```",
    ])  # fmt: skip
    report(TITLE, body, args.write)


if __name__ == "__main__":
    main()
