"""Drives the real app (`gui.app.main`, real engine, bundled model) in a subprocess for the crash
tests: `python -m tests.reliability.session_driver paint|term|restore WORKDIR`.

`paint` paints a mask stroke with mouse events, generates, waits until the session is autosaved,
prints `SAVED <image path>` and keeps running until the test kills it with SIGKILL. `term` paints
a stroke, prints `READY` and runs until the test sends SIGTERM. `restore`
starts the app again (the test answers the restore question through BRUSHWORK_RESTORE_SESSION),
writes the restored canvas and mask as .npy files and a screenshot, and quits cleanly.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PySide6.QtCore import QTimer

from gui.app import BrushworkApp, main
from tests.gui.test_canvas_editor import drag, hard_brush


def paint_and_generate(app: BrushworkApp, work: Path) -> None:
    window = app.window
    window.doc.replace(np.full((64, 64, 3), 255, np.uint8), "New canvas")
    hard_brush(window, 12)
    drag(window.canvas, [(10, 12), (30, 20), (50, 40)])
    window.panel.set_mode("txt2img")  # hard_brush chose Inpaint; the mask stays on the canvas
    np.save(work / "painted_mask.npy", window.doc.mask)
    panel = window.panel
    panel.prompt.setPlainText("a large red circle, blue background")
    panel.sampler.setCurrentIndex(panel.sampler.findData("euler"))
    panel.steps.setValue(20)
    panel.guidance.setValue(5.0)
    panel.random_seed.setChecked(False)
    panel.seed.setText("1234")
    panel.set_size(64, 64)
    window.generate()

    def report_when_saved() -> None:
        if window.error_banner.isVisible():
            print("ERROR", window.error_banner.text(), flush=True)
        elif (
            window.controller.last_results
            and window.autosave.settled  # written by the autosave thread, not only handed over
            and app.session.manifest.exists()
        ):
            print("SAVED", window.controller.last_results[0].path, flush=True)
            return
        QTimer.singleShot(100, report_when_saved)

    report_when_saved()


def paint_and_wait(app: BrushworkApp, work: Path) -> None:
    """Paints a stroke, prints READY and waits for the test's SIGTERM (no generation)."""
    window = app.window
    window.doc.replace(np.full((64, 64, 3), 90, np.uint8), "New canvas")
    hard_brush(window, 12)
    drag(window.canvas, [(10, 12), (30, 20), (50, 40)])
    np.save(work / "painted_mask.npy", window.doc.mask)
    window.panel.prompt.setPlainText("terminated politely")
    print("READY", flush=True)


def dump_restored(app: BrushworkApp, work: Path) -> None:
    def dump() -> None:
        window = app.window
        np.save(work / "restored_image.npy", window.doc.image)
        np.save(work / "restored_mask.npy", window.doc.mask)
        window.grab().save(str(work / "restored_window.png"))
        print("RESTORED", app.restored, window.panel.prompt.toPlainText(), flush=True)
        window.close()

    QTimer.singleShot(300, dump)


if __name__ == "__main__":
    phase, work = sys.argv[1], Path(sys.argv[2])
    drive = {"paint": paint_and_generate, "term": paint_and_wait}.get(phase, dump_restored)
    sys.exit(
        main(["--out", str(work / "outputs"), "--device", "cpu"], lambda app: drive(app, work))
    )
