"""Painting on a 2048² canvas: the GUI thread's time per mouse event of a colour stroke.

Runs the real window offscreen (no model), puts a 2048×2048 photo-like image under a paint
layer and a half-transparent layer above it, and drives `--strokes` real mouse strokes (press,
`--moves` moves 12 px apart, release) with a 48 px soft brush through the canvas viewport, each
event followed by processEvents (so the repaint of the changed box is counted). Reports per
event kind the wall time (median, p95, max), plus undo of a stroke, one full flatten of the
stack (what a layer operation costs) and autosave's GUI-thread share with the layers.
Target: a move under 16 ms (one frame), press and release under 30 ms.

Run: python3 bench/paint_stroke.py [--strokes 5] [--moves 60] [--json] [--write]
"""

from __future__ import annotations

import json
import time

import common  # noqa: F401  (puts this checkout first on sys.path)
import numpy as np
from autosave_stall import photo_like
from common import LoadTracker, engineless_app, header, parser, report, table

TITLE = "Paint stroke"
SIZE = 2048


def main() -> None:
    cli = parser(__doc__.split("\n")[0])
    cli.add_argument("--strokes", type=int, default=5)
    cli.add_argument("--moves", type=int, default=60)
    cli.add_argument("--json", action="store_true", help="print the figures as JSON only")
    args = cli.parse_args()
    qt_app, app, _work = engineless_app()
    from PySide6.QtCore import QCoreApplication, QEvent, QPointF, Qt
    from PySide6.QtGui import QColor, QMouseEvent
    from PySide6.QtWidgets import QApplication

    window = app.window
    window.resize(1400, 900)
    doc, canvas = window.doc, window.canvas
    doc.replace(photo_like(SIZE), "Photo")
    glaze = np.zeros((SIZE, SIZE, 4), np.uint8)
    glaze[..., 2], glaze[..., 3] = 255, 60
    doc.add_layer(glaze, "glaze")
    doc.set_active(1)  # paint on "Paint 1", between the photo and the glaze
    window.panel.set_mode("img2img")
    window.tools.set_paint_color(QColor(220, 30, 30))
    window.tools.hardness_slider.setValue(40)
    window.tools.size_slider.set_pixels(48)
    canvas.fit()
    QCoreApplication.processEvents()

    def send(kind, x: float, y: float) -> float:
        pos = QPointF(canvas.mapFromScene(QPointF(x, y)))
        left = Qt.MouseButton.LeftButton
        held = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseButtonRelease else left
        event = QMouseEvent(kind, pos, canvas.viewport().mapToGlobal(pos), left, held,
                            Qt.KeyboardModifier.NoModifier)  # fmt: skip
        started, cpu = time.perf_counter(), time.thread_time()
        QApplication.sendEvent(canvas.viewport(), event)
        QCoreApplication.processEvents()
        cpu_ms[kind_name(kind)].append((time.thread_time() - cpu) * 1000)
        return (time.perf_counter() - started) * 1000

    def kind_name(kind) -> str:
        return {QEvent.Type.MouseButtonPress: "press", QEvent.Type.MouseMove: "move"}.get(
            kind, "release"
        )

    times: dict[str, list[float]] = {"press": [], "move": [], "release": [], "undo": []}
    cpu_ms: dict[str, list[float]] = {"press": [], "move": [], "release": []}
    with LoadTracker() as load:
        for k in range(args.strokes):
            y = 200 + k * 300
            times["press"].append(send(QEvent.Type.MouseButtonPress, 100, y))
            for step in range(1, args.moves + 1):
                times["move"].append(send(QEvent.Type.MouseMove, 100 + 12 * step, y + step))
            times["release"].append(send(QEvent.Type.MouseButtonRelease, 100 + 12 * args.moves,
                                         y + args.moves))  # fmt: skip
        for _ in range(args.strokes):
            started = time.perf_counter()
            doc.undo_stack.undo()
            QCoreApplication.processEvents()
            times["undo"].append((time.perf_counter() - started) * 1000)
        flatten = []
        for _ in range(3):
            started = time.perf_counter()
            doc._refresh(None)
            QCoreApplication.processEvents()
            flatten.append((time.perf_counter() - started) * 1000)
        doc.undo_stack.redo()  # one painted layer changed since the last snapshot
        started = time.perf_counter()
        window.autosave.save()
        autosave_ms = (time.perf_counter() - started) * 1000
        window.autosave.wait(120)
    app.shutdown()
    window.close()
    stats = {"p50": np.median, "p95": lambda v: np.percentile(v, 95), "max": np.max}
    figures = {
        f"{kind}_ms_{stat}": round(float(fn(values)), 1)
        for kind, values in times.items()
        for stat, fn in stats.items()
    }
    for kind, values in cpu_ms.items():
        figures[f"{kind}_cpu_ms_p50"] = round(float(np.median(values)), 1)
    figures["flatten_all_ms_p50"] = round(float(np.median(flatten)), 1)
    figures["autosave_gui_ms"] = round(autosave_ms, 1)
    figures["load_average_max"] = round(max(load.samples), 2)
    if args.json:
        print(json.dumps(figures))
        return
    rows = [
        (kind, f"{np.median(v):.1f}", f"{np.percentile(v, 95):.1f}", f"{np.max(v):.1f}",
         f"{np.median(cpu_ms[kind]):.1f}" if kind in cpu_ms else "", len(v))
        for kind, v in times.items()
    ]  # fmt: skip
    rows.append(("flatten every layer once", f"{np.median(flatten):.1f}", "", "", "", 3))
    rows.append(("autosave save() on the GUI thread", f"{autosave_ms:.1f}", "", "", "", 1))
    body = "\n".join([
        f"`python3 bench/paint_stroke.py` — {header(load)}",
        "",
        f"Real window offscreen, {SIZE}×{SIZE} photo-like image + paint layer + a glaze layer "
        f"above, 48 px soft colour brush, {args.strokes} strokes of {args.moves} mouse moves "
        "12 px apart, each event followed by processEvents (repaint included). Times in ms. "
        "Target: move < 16 ms, press and release < 30 ms.",
        "",
        "```", table(rows, ("event", "median", "p95", "max", "CPU median", "n")), "```",
        "",
        "Wall times include waiting for a core on a shared machine; the CPU column is the GUI "
        "thread's own work per event (thread CPU time), the part a user's idle machine pays.",
    ])  # fmt: skip
    report(TITLE, body, args.write)
    del qt_app


if __name__ == "__main__":
    main()
