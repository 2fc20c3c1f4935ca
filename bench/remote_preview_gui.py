"""Remote preview latency through the real window: a binary preview frame received by the
client → the canvas viewport's next paint after the window showed that preview.

The real app (BrushworkApp, offscreen) on a RemoteBackend against the fake ComfyUI
(tests/remote/fake_comfy.py), which here sends 512² JPEG frames as ComfyUI does; the model and
the server's sampling are not part of the figure. Hooks from outside only: the client's frame
handler (stamp at receipt), the canvas's show_preview, and an event filter on its viewport (stamp
when the paint event arrives, i.e. the paint starts).

Run: python3 bench/remote_preview_gui.py [--steps 30] [--step-delay 0.1]
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

_SCRATCH = tempfile.TemporaryDirectory(prefix="brushwork-bench-")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
for _var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):  # not the user's settings
    os.environ[_var] = str(Path(_SCRATCH.name) / _var)

import common  # noqa: E402,F401  (puts this checkout first on sys.path)
from common import LoadTracker, header, parser, table  # noqa: E402
from PySide6.QtCore import QEvent, QObject, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from gui.app import BrushworkApp  # noqa: E402
from gui.remote_backend import RemoteBackend  # noqa: E402
from pipeline.remote import job as job_module  # noqa: E402
from tests.remote import fake_comfy  # noqa: E402

FRAME_SIZE = (512, 512)


class ComfyFrames(fake_comfy.FakeComfy):
    def _preview_frame(self, client: str, prompt_id: str) -> bytes:
        return b"\x00\x00\x00\x01\x00\x00\x00\x01" + fake_comfy.jpeg((10, 220, 30), FRAME_SIZE)


class PaintProbe(QObject):
    def __init__(self, viewport) -> None:  # type: ignore[no-untyped-def]
        super().__init__()
        self.viewport = viewport
        self.received: list[float] = []  # frames received, not yet shown (client thread)
        self.shown: list[float] = []  # shown on the canvas, not yet painted
        self.latencies: list[float] = []

    def eventFilter(self, watched, event) -> bool:  # type: ignore[no-untyped-def]
        if watched is self.viewport and event.type() == QEvent.Type.Paint and self.shown:
            now = time.perf_counter()
            self.latencies.extend(now - t for t in self.shown)
            self.shown.clear()
        return False


def measure(steps: int, step_delay: float) -> list[float]:
    qt = QApplication.instance() or QApplication([])
    out = Path(_SCRATCH.name) / "out"
    with ComfyFrames(step_delay=step_delay) as server:
        app = BrushworkApp(lambda: RemoteBackend([server.url], "tiny.safetensors", out), out, None)
        window = app.window
        probe = PaintProbe(window.canvas.viewport())
        window.canvas.viewport().installEventFilter(probe)
        original_frame, original_show = job_module._on_frame, window.canvas.show_preview

        def on_frame(frame, state, emit, url):  # type: ignore[no-untyped-def]
            probe.received.append(time.perf_counter())
            original_frame(frame, state, emit, url)

        def show_preview(job, image, region=None):  # type: ignore[no-untyped-def]
            shown = original_show(job, image, region)
            # Frames the worker coalesced into this one count from their own receipt.
            probe.shown.extend(probe.received)
            probe.received.clear()
            return shown

        job_module._on_frame, window.canvas.show_preview = on_frame, show_preview
        try:
            app.start(preload=False)
            window.panel.prompt.setPlainText("a red circle")
            window.panel.steps.setValue(steps)
            window.panel.set_size(64, 64)
            window.generate()
            timer = QTimer()
            started = time.monotonic()

            def check() -> None:
                if window.controller.running_job == 0 or time.monotonic() - started > 300:
                    QTimer.singleShot(300, qt.quit)  # let the last paint arrive

            timer.timeout.connect(check)
            timer.start(50)
            qt.exec()
            if window.error_banner.isVisible():
                raise SystemExit(f"generation failed: {window.error_banner.text()}")
        finally:
            job_module._on_frame = original_frame
            app.shutdown()
    return probe.latencies


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--step-delay", type=float, default=0.1)
    args = p.parse_args()
    with LoadTracker() as tracker:
        ms = sorted(x * 1000 for x in measure(args.steps, args.step_delay))
    if not ms:
        raise SystemExit("no preview was painted")
    rows = [
        (f"frame received → canvas paint, median ms ({len(ms)} frames)",
         f"{statistics.median(ms):.1f}"),
        ("frame received → canvas paint, max ms", f"{ms[-1]:.1f}"),
    ]  # fmt: skip
    print(f"{header(tracker)}; fake ComfyUI, {FRAME_SIZE[0]}² JPEG frames every "
          f"{args.step_delay:g} s, {args.steps} steps, real window offscreen\n")  # fmt: skip
    print(table(rows, ("measure", "value")))


if __name__ == "__main__":
    main()
