"""Runs the real app (gui.app.main, real engine, bundled model, offscreen) and records a timeline.

Not run by hand: bench/startup.py and bench/gui_responsiveness.py start it in a fresh process and
read the JSON it prints last. It hooks into the app only from outside (a show hook, event
filters, extra signal connections), then, once the model is loaded, types a prompt and presses
Generate `--generations` times in a row, and quits.

Recorded (time.time() stamps, so the parent can relate them to the moment it started us):
  shown            MainWindow.showEvent, with the ML modules already imported at that moment
  painted          the window's first paint
  loaded           the worker reported the model as loaded
  ticks            every tick of a 5 ms QTimer on the GUI thread (from `loaded` on)
  generate/finish  when each generation was started and when its result arrived
  previews         per preview: emitted by the worker (its thread), canvas updated (GUI slot),
                   first paint of the canvas after that
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common  # noqa: F401  (puts this checkout first on sys.path)
from common import CFG, PROMPT, SAMPLER, SIZE, STEPS

WATCHED = ("torch", "diffusers", "transformers")


class Timeline:
    def __init__(self) -> None:
        self.events: dict[str, object] = {"ticks": [], "previews": [], "generate": [],
                                          "finish": []}  # fmt: skip

    def mark(self, name: str, **extra: object) -> None:
        if name not in self.events:
            self.events[name] = {"t": time.time(), **extra}


def install(timeline: Timeline, generations: int, idle_ms: int) -> None:
    """Patches MainWindow.showEvent and BrushworkApp.start to add the probe's hooks."""
    from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal, Slot
    from PySide6.QtWidgets import QApplication

    from gui.app import BrushworkApp
    from gui.main_window import MainWindow

    original_show = MainWindow.showEvent
    original_start = BrushworkApp.start
    events = timeline.events

    def show_event(window, event) -> None:
        imported = [name for name in WATCHED if name in sys.modules]
        timeline.mark("shown", imported=imported)
        original_show(window, event)

    class Probe(QObject):
        """Lives on the GUI thread. The worker's signals are relayed through the probe's own
        signals (a Qt-level queued connection), so the slots run on the GUI thread: connected
        directly, this class's Python slots ran in the worker thread (PySide6 6.11)."""

        loaded = Signal(str)
        previewed = Signal()
        finished = Signal()
        failed = Signal(int, str)

        def __init__(self, window) -> None:
            super().__init__(window)
            self.window, self.viewport = window, window.canvas.viewport()
            self.waiting: list[dict] = []
            self.emitted: list[float] = []
            self.timer = QTimer(self)
            self.timer.setInterval(5)
            self.timer.setTimerType(Qt.TimerType.PreciseTimer)
            self.timer.timeout.connect(self.tick)

        def eventFilter(self, watched, event) -> bool:
            if event.type() == QEvent.Type.Paint:
                now = time.time()
                if watched is self.window:
                    timeline.mark("painted")
                elif watched is self.viewport:
                    for preview in self.waiting:
                        preview["painted"] = now
                    self.waiting.clear()
            return False

        @Slot()
        def tick(self) -> None:
            events["ticks"].append(time.time())  # type: ignore[union-attr]

        def on_emit(self, *_args) -> None:  # direct connection: the worker thread, at emit
            self.emitted.append(time.time())

        @Slot()
        def on_preview(self, *_args) -> None:  # after the window's own slot drew it
            preview = {"emitted": self.emitted[-1] if self.emitted else None, "shown": time.time()}
            events["previews"].append(preview)  # type: ignore[union-attr]
            self.waiting.append(preview)
            timeline.mark("first_preview_shown")

        @Slot()
        def generate(self) -> None:
            events["generate"].append(time.time())  # type: ignore[union-attr]
            self.window.generate()

        @Slot(str)
        def on_loaded(self, _name: str) -> None:
            if "loaded" in events:
                return  # every job reports its model again
            timeline.mark("loaded")
            panel = self.window.panel
            panel.prompt.setPlainText(PROMPT)
            panel.steps.setValue(STEPS)
            panel.guidance.setValue(CFG)
            panel.set_size(SIZE, SIZE)
            panel.sampler.setCurrentIndex(panel.sampler.findData(SAMPLER))
            self.timer.start()
            QTimer.singleShot(idle_ms, self.generate)  # idle ticks first: the noise floor

        @Slot()
        def on_finished(self, *_args) -> None:
            events["finish"].append(time.time())  # type: ignore[union-attr]
            if len(events["finish"]) < generations:  # type: ignore[arg-type]
                QTimer.singleShot(0, self.generate)
            else:
                QTimer.singleShot(200, QApplication.quit)

        @Slot(int, str)
        def on_failed(self, _job: int, message: str) -> None:
            print(f"FAILED: {message}", file=sys.stderr)
            events["failed"] = message
            QApplication.quit()

    def start(app, preload: bool = True) -> None:
        probe = Probe(app.window)
        app.window.installEventFilter(probe)
        app.window.canvas.viewport().installEventFilter(probe)
        worker = app.worker
        worker.previewed.connect(probe.on_emit, Qt.ConnectionType.DirectConnection)
        worker.previewed.connect(probe.previewed)
        worker.model_loaded.connect(probe.loaded)
        worker.finished.connect(probe.finished)
        worker.failed.connect(probe.failed)
        probe.previewed.connect(probe.on_preview)
        probe.loaded.connect(probe.on_loaded)
        probe.finished.connect(probe.on_finished)
        probe.failed.connect(probe.on_failed)
        original_start(app, preload)

    MainWindow.showEvent = show_event
    BrushworkApp.start = start


def run_probe(generations: int, idle_ms: int = 0, timeout: float = 600) -> dict:
    """Runs this probe in a fresh process with temp settings/data dirs; returns its timeline
    with every stamp made relative to the moment just before the process was started (s)."""
    with tempfile.TemporaryDirectory(prefix="brushwork-bench-") as tmp:
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HF_HUB_OFFLINE": "1"}
        env.update({var: str(Path(tmp) / var) for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME",
                                                          "XDG_CACHE_HOME")})  # fmt: skip
        command = [sys.executable, __file__, "--out", str(Path(tmp) / "out"),
                   "--generations", str(generations), "--idle-ms", str(idle_ms)]  # fmt: skip
        start = time.time()
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(f"gui_probe failed ({done.returncode}): {done.stderr[-2000:]}")
    timeline = json.loads(done.stdout.strip().splitlines()[-1])
    if "failed" in timeline:
        raise RuntimeError(f"generation failed in the app: {timeline['failed']}")
    return _relative(timeline, start)


def _relative(value: object, start: float) -> object:
    if isinstance(value, float):
        return value - start
    if isinstance(value, dict):
        return {k: _relative(v, start) for k, v in value.items()}
    if isinstance(value, list):
        return [_relative(v, start) for v in value]
    return value


def main() -> None:
    cli = argparse.ArgumentParser()
    cli.add_argument("--out", required=True)
    cli.add_argument("--generations", type=int, default=1)
    cli.add_argument("--idle-ms", type=int, default=0, help="wait before the first Generate")
    args = cli.parse_args()
    timeline = Timeline()
    install(timeline, args.generations, args.idle_ms)
    from gui.app import main as app_main

    code = app_main(["--out", args.out, "--device", "cpu"])
    print(json.dumps({"exit": code, **timeline.events}))


if __name__ == "__main__":
    main()
