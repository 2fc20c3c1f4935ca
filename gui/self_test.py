"""`brushwork --self-test`: proves that this installation works, without a screen or a user.

It runs the real app (window, worker thread, engine) offscreen with throw-away settings, loads
the bundled model, clicks Generate once, checks the written PNG and the previews that arrived,
checks that every sampler's scheduler can be built (a frozen app that misses one of diffusers'
lazy imports fails here, not in a user's hands), prints one line per measurement and exits 0.
Any failure prints `self-test FAILED: <reason>` and exits 1. The packaging build runs it after
every build, so the timings it prints are the figures packaging/README.md reports.

It never touches the user's settings, autosaved session or output folder: all live in a
temporary folder unless `--out` names the folder for the image.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QTimer, Slot
from PySide6.QtGui import QImage

from pipeline import GeneratedImage, __version__, bundled_model_dir, read_image_info
from pipeline.imagefiles import open_image
from pipeline.samplers import SAMPLERS, make_scheduler

from .session import SessionStore
from .settings import Parameters, Settings, SettingsStore

# What the bundled model draws best (README: Euler, 20 steps, CFG 5, 64×64).
PARAMETERS = Parameters(
    mode="txt2img",
    prompt="a large red circle, blue background",
    sampler="euler",
    steps=20,
    guidance=5.0,
    seed=42,
    random_seed=False,
    width=64,
    height=64,
)
TIMEOUT_S = 600.0
LOG_NAME = "self-test.log"


def seconds_since_start() -> Callable[[], float]:
    """A clock that reads 0 when the process started (Linux: from /proc, so the bootloader,
    interpreter start-up and imports count), elsewhere when this function was first called."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        offset = uptime - ticks / os.sysconf("SC_CLK_TCK") - time.monotonic()
    except (OSError, ValueError, IndexError, AttributeError):
        offset = -time.monotonic()
    return lambda: time.monotonic() + offset


@dataclass
class Observed:
    """What the self-test saw, in seconds since the process started."""

    window: float | None = None
    model_loaded: float | None = None
    first_preview: float | None = None
    first_image: float | None = None
    previews: list[QImage] = field(default_factory=list)
    results: list[GeneratedImage] = field(default_factory=list)
    failure: str | None = None


class SelfTestProbe(QObject):
    """Lives on the GUI thread: drives the window and records what the worker reports."""

    def __init__(self, app, clock: Callable[[], float], quit_app: Callable[[], None]) -> None:
        super().__init__()
        self.app = app
        self.clock = clock
        self.quit_app = quit_app
        self.seen = Observed()
        worker = app.worker
        worker.model_loaded.connect(self._on_model_loaded)
        worker.previewed.connect(self._on_preview)
        worker.finished.connect(self._on_finished)
        worker.failed.connect(self._on_failed)
        worker.unsaved.connect(self._on_unsaved)
        worker.cancelled.connect(self._on_cancelled)
        self._deadline = QTimer(self)
        self._deadline.setSingleShot(True)
        self._deadline.timeout.connect(self._on_timeout)

    def begin(self, timeout_s: float = TIMEOUT_S) -> None:
        """Call after `app.start()`: the first event-loop turn records the window, then clicks
        Generate with the self-test parameters."""
        self._deadline.start(int(timeout_s * 1000))
        QTimer.singleShot(0, self._window_ready)

    @Slot()
    def _window_ready(self) -> None:
        window = self.app.window
        if not window.isVisible() or window.grab().isNull():
            self._fail("the main window was not shown or could not be drawn")
            return
        self.seen.window = self.clock()
        window.panel.restore(PARAMETERS)
        window.generate()
        if not window.controller.running_job:
            self._fail(f"Generate did not start a job: {window.error_banner.text()}")

    @Slot(str, object)
    def _on_model_loaded(self, _name: str, _defaults: object) -> None:
        if self.seen.model_loaded is None:
            self.seen.model_loaded = self.clock()

    @Slot(int, QImage, object)
    def _on_preview(self, _job: int, image: QImage, _region: object) -> None:
        if self.seen.first_preview is None:
            self.seen.first_preview = self.clock()
        self.seen.previews.append(image)

    @Slot(int, object)
    def _on_finished(self, _job: int, results: list[GeneratedImage]) -> None:
        self.seen.first_image = self.clock()
        self.seen.results = list(results)
        self._end()

    @Slot(int, str)
    def _on_failed(self, job: int, message: str) -> None:
        self._fail(f"{'loading the model' if job == 0 else 'generating'} failed: {message}")

    @Slot(int, object, str)
    def _on_unsaved(self, _job: int, _error: object, message: str) -> None:
        self._fail(f"the image could not be written: {message}")

    @Slot(int)
    def _on_cancelled(self, _job: int) -> None:
        self._fail("the job was cancelled")

    @Slot()
    def _on_timeout(self) -> None:
        self.app.window.controller.cancel()
        self._fail(f"no image after {TIMEOUT_S:.0f} s")

    def _fail(self, reason: str) -> None:
        if self.seen.failure is None:
            self.seen.failure = reason
        self._end()

    def _end(self) -> None:
        self._deadline.stop()
        QTimer.singleShot(0, self.quit_app)  # let the window apply the result first


class SelfTestFailure(Exception):
    """What the self-test found wrong, in one line for the user."""


def require(condition: bool, reason: str) -> None:
    """Like assert, but survives `python -O` (a frozen app may be built optimised)."""
    if not condition:
        raise SelfTestFailure(reason)


def check_result(seen: Observed) -> list[str]:
    """The report lines for a finished run; raises SelfTestFailure naming what is wrong."""
    require(seen.failure is None, seen.failure or "")
    require(bool(seen.results), "the worker finished without an image")
    require(bool(seen.previews), "no preview arrived (the canvas shows nothing while it works)")
    result = seen.results[0]
    require(result.path.is_file(), f"the image was not written: {result.path}")
    with open_image(result.path) as png:
        pixels = np.asarray(png.convert("RGB"), dtype=np.float32)
        size = png.size
    wanted = (PARAMETERS.width, PARAMETERS.height)
    require(size == wanted, f"the image is {size[0]}×{size[1]}, not {wanted[0]}×{wanted[1]}")
    info = read_image_info(result.path)
    require(info.get("prompt") == PARAMETERS.prompt, f"the PNG's parameters are wrong: {info}")
    require(float(pixels.std()) > 5, "the image is one flat colour")
    return [
        f"window shown after {seen.window:.2f} s",
        f"model loaded after {seen.model_loaded or float('nan'):.2f} s",
        f"first preview after {seen.first_preview:.2f} s ({len(seen.previews)} previews)",
        f"first image after {seen.first_image:.2f} s: {result.path} ({size[0]}×{size[1]})",
    ]


def check_samplers() -> str:
    """Builds every sampler's scheduler from the bundled model's config: in a frozen app this
    finds any diffusers scheduler module the build failed to collect."""
    config_file = bundled_model_dir() / "scheduler" / "scheduler_config.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    for sampler in SAMPLERS:
        try:
            make_scheduler(sampler.id, config)
        except Exception as exc:
            raise SelfTestFailure(f"sampler {sampler.id} cannot be built: {exc}") from exc
    return f"all {len(SAMPLERS)} samplers build their schedulers"


def check_optional_parts(image_path: Path) -> str:
    """Runs each part the first image did not need: upscaling (spandrel, the bundled upscaler),
    LoRA support (peft through diffusers) and the ComfyUI client (aiohttp). In a frozen app these
    are lazy imports the build can miss; here they fail the self-test, not the user's first use."""
    from pipeline.loras import lora_support_available
    from pipeline.upscale import bundled_upscaler_path, load_upscaler

    with open_image(image_path) as png:
        pixels = np.asarray(png.convert("RGB"))
    try:
        upscaled = load_upscaler(bundled_upscaler_path()).upscale(pixels[:16, :16], 4)
    except Exception as exc:
        raise SelfTestFailure(f"the bundled upscaler does not run: {exc}") from exc
    require(upscaled.shape == (64, 64, 3), f"the upscaler made {upscaled.shape}, not 64×64")
    try:
        import aiohttp  # noqa: F401  (the remote backend's HTTP client)

        lora_support = lora_support_available()
    except ImportError as exc:
        raise SelfTestFailure(f"a part is missing from this installation: {exc}") from exc
    require(lora_support, "LoRA support is missing (diffusers does not find peft)")
    return "upscaler, LoRA support (peft) and the ComfyUI client (aiohttp) are present"


class Report:
    """Prints each line (a windowed Windows app has no stdout) and keeps them for the log file."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, line: str, failed: bool = False) -> None:
        self.lines.append(line)
        stream = sys.stderr if failed else sys.stdout
        if stream is not None:
            print(line, file=stream, flush=True)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / LOG_NAME).write_text("\n".join(self.lines) + "\n", encoding="utf-8")


def run_self_test(out: Path | None, model: str | None, device: str | None) -> int:
    """Runs the whole app once, headless; returns the process exit status."""
    clock = seconds_since_start()
    os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before the QApplication exists
    os.environ["HF_HUB_OFFLINE"] = "1"  # the bundled model needs no network; never reach out
    from .app import BrushworkApp, create_qt_app  # app.py imports this module lazily
    from .worker import engine_factory

    report = Report()
    frozen = "yes" if getattr(sys, "frozen", False) else "no"
    report(
        f"self-test: Brushwork {__version__}, Python {platform.python_version()}, "
        f"frozen: {frozen}; times are seconds since the process started"
    )
    with tempfile.TemporaryDirectory(prefix="brushwork-self-test-") as scratch:
        output_dir = out or Path(scratch) / "outputs"
        settings = Settings(device=device or "auto", output_dir=str(output_dir))
        store = SettingsStore(Path(scratch) / "settings.json")
        qt_app = create_qt_app()
        session = SessionStore(Path(scratch) / "session")  # never the user's autosave
        app = BrushworkApp(
            engine_factory(output_dir, settings), output_dir, model, store, settings, session,
            ask_restore=lambda _window: False,
        )  # fmt: skip
        probe = SelfTestProbe(app, clock, qt_app.quit)
        app.start()
        probe.begin()
        try:
            qt_app.exec()
        finally:
            app.shutdown()
        status = 0
        try:
            for line in [*check_result(probe.seen), check_samplers()]:
                report(f"self-test: {line}")
            report(f"self-test: {check_optional_parts(probe.seen.results[0].path)}")
        except Exception as exc:  # anything wrong is a failed self-test, never a traceback
            known = isinstance(exc, SelfTestFailure)
            reason = str(exc) if known else f"{type(exc).__name__}: {exc}"
            report(f"self-test FAILED: {reason}", failed=True)
            status = 1
        else:
            report("self-test: OK")
    if out is not None:
        report.save(out)
    return status
