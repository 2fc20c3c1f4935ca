"""Composition root: builds the window, the worker and its thread, and starts the event loop.

The window is shown before torch or diffusers are imported: the engine is created by the worker,
on its own thread, so the first paint never waits for the ML stack.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import QThread
from PySide6.QtGui import QColor, QIcon, QPalette
from PySide6.QtWidgets import QApplication

from pipeline import __version__, default_output_dir, resources_dir

from .main_window import MainWindow
from .session import RestoreQuestion, SessionStore, ask_to_restore, claim_session
from .settings import Settings, SettingsStore
from .termination import QuitOnSignal
from .worker import EngineLike, GenerationWorker, engine_factory

# How long the worker thread may keep the GIL while the GUI thread waits for it (Python's default
# is 5 ms). Each Python slot the GUI thread runs takes the GIL again, and a paint stroke's end
# runs several: with Live painting, the longest GUI stall was 31–34 ms at 5 ms and 18–21 ms at
# 0.5 ms, with the same Live results per second (bench/live_painting.py, issue 18).
GIL_SWITCH_INTERVAL_S = 0.0005


class BrushworkApp:
    """Owns the worker thread for the app's lifetime; `shutdown` always joins it."""

    def __init__(
        self,
        factory: Callable[[], EngineLike],
        output_dir: Path,
        model: str | None = None,
        store: SettingsStore | None = None,
        settings: Settings | None = None,
        session: SessionStore | None = None,
        ask_restore: RestoreQuestion = ask_to_restore,
    ) -> None:
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
        self.thread = QThread()
        self.thread.setObjectName("brushwork-worker")
        self.worker = GenerationWorker(factory)
        self.worker.moveToThread(self.thread)
        self.session, self.session_notice = claim_session(session or SessionStore())
        self.ask_restore = ask_restore
        self.window = MainWindow(self.worker, output_dir, model, store, settings, self.session)
        self.restored = False  # after a crash, on the user's answer
        self.resumed = False  # after a clean exit: the last canvas and mask, without asking
        self._shut_down = False

    def start(self, preload: bool = True) -> None:
        self.window.show()
        if self.session_notice:
            self.window.show_error(self.session_notice)
        self._offer_restore()
        try:
            self.session.mark_running()
        except OSError as exc:
            self.window.statusBar().showMessage(f"The session cannot be autosaved: {exc}")
        self.thread.start()
        if preload:
            self.window.load_model()

    def _offer_restore(self) -> None:
        """After a crash, asks whether to bring the last autosaved session back; after a clean
        exit brings the last canvas and mask back without asking, as a document app reopens
        its document (File → New canvas starts afresh)."""
        if not self.session.crashed():
            self._resume()
            return
        state = self.session.load()
        if state is None:
            self.window.show_error("The previous session could not be read; starting afresh.")
        elif self.ask_restore(self.window):
            self.window.restore_session(state)
            self.restored = True

    def _resume(self) -> None:
        if not self.session.manifest.exists():
            return
        state = self.session.load()
        if state is None or (not state.mask.any() and bool((state.image == 255).all())):
            return  # unreadable (a clean start) or an untouched blank canvas: nothing to bring
        self.window.restore_session(state)
        self.resumed = True
        self.window.statusBar().showMessage(
            "Your last canvas and mask are back (File → New canvas starts afresh)."
        )

    def shutdown(self) -> None:
        if self._shut_down:
            return
        self._shut_down = True
        self.window.controller.cancel()
        self.thread.quit()
        self.thread.wait()  # a running step ends at the next boundary; loading runs to its end
        self.window.autosave.close()  # writes what is waiting
        self.session.mark_clean_exit()
        self.session.release()


def apply_style(app: QApplication) -> None:
    app.setStyle("Fusion")
    palette = QPalette()
    for role, color in (
        (QPalette.ColorRole.Window, QColor(45, 45, 50)),
        (QPalette.ColorRole.WindowText, QColor(225, 225, 230)),
        (QPalette.ColorRole.Base, QColor(30, 30, 34)),
        (QPalette.ColorRole.AlternateBase, QColor(45, 45, 50)),
        (QPalette.ColorRole.Text, QColor(225, 225, 230)),
        (QPalette.ColorRole.Button, QColor(58, 58, 64)),
        (QPalette.ColorRole.ButtonText, QColor(225, 225, 230)),
        (QPalette.ColorRole.Highlight, QColor(70, 120, 200)),
        (QPalette.ColorRole.HighlightedText, QColor(255, 255, 255)),
        (QPalette.ColorRole.PlaceholderText, QColor(130, 130, 138)),
    ):
        palette.setColor(role, color)
    palette.setColor(
        QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText, QColor(110, 110, 115)
    )
    app.setPalette(palette)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="brushwork", description="Brushwork image generator")
    parser.add_argument("--model", default=None, help="model folder, .safetensors file or Hub id")
    parser.add_argument("--out", type=Path, default=None, help="folder for finished images")
    parser.add_argument("--device", default=None, choices=("auto", "cpu", "cuda", "mps"))
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="run offscreen with temporary settings, generate one image with the bundled model, "
        "print the timings and exit 0 if everything worked (images go to --out if given)",
    )
    parser.add_argument("--version", action="version", version=f"Brushwork {__version__}")
    return parser.parse_args(argv)


def create_qt_app() -> QApplication:
    qt_app = QApplication(sys.argv[:1])
    qt_app.setApplicationName("Brushwork")
    qt_app.setApplicationVersion(__version__)
    qt_app.setWindowIcon(QIcon(str(resources_dir() / "icons" / "brushwork.png")))
    apply_style(qt_app)
    return qt_app


def main(
    argv: Sequence[str] | None = None,
    on_started: Callable[[BrushworkApp], None] | None = None,
) -> int:
    """Runs the app. `on_started` is called once the window is up (tests drive the real app
    in a subprocess with it, e.g. to kill it mid-session)."""
    args = parse_args(argv)
    if args.self_test:
        from .self_test import run_self_test

        return run_self_test(args.out, args.model, args.device)
    qt_app = create_qt_app()
    store = SettingsStore()
    settings = store.load()  # command-line options override the saved settings for this run
    output_dir = args.out or (Path(settings.output_dir) if settings.output_dir else None)
    output_dir = output_dir or default_output_dir()
    if args.device:
        settings.device = args.device  # for this run; saved like any other setting
    app = BrushworkApp(
        engine_factory(output_dir, settings),
        output_dir,
        args.model or settings.model,
        store,
        settings,
    )

    def quit_like_the_menu() -> None:  # File → Quit, then leave the event loop
        app.window.close()
        qt_app.quit()

    terminated = QuitOnSignal(quit_like_the_menu)
    app.start()
    if on_started is not None:
        on_started(app)
    try:
        return qt_app.exec()
    finally:
        app.shutdown()
        terminated.uninstall()
