"""The main window: parameters on the left, the canvas on the right, progress under Generate."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal, Slot
from PySide6.QtGui import QCloseEvent, QImage, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from pipeline import BrushworkError, GeneratedImage

from .canvas import Canvas
from .images import array_to_qimage
from .panels import ParametersPanel
from .worker import GenerationWorker


class MainWindow(QMainWindow):
    submit = Signal(int, object)  # job id, GenerationRequest → worker.run_job (queued)
    load_requested = Signal(object)  # model → worker.load_model (queued)

    def __init__(self, worker: GenerationWorker, output_dir: Path, model: str | None) -> None:
        super().__init__()
        self.setWindowTitle("Brushwork")
        self.resize(1100, 720)
        self.worker = worker
        self.output_dir = output_dir
        self.model = model
        self._next_job = 1
        self.running_job = 0
        self.last_results: list[GeneratedImage] = []
        self._build()
        self._connect()
        self._set_running(False)
        self.statusBar().showMessage(f"Images are saved to {output_dir}")

    def _build(self) -> None:
        self.panel = ParametersPanel()
        self.generate_button = QPushButton("Generate")
        self.generate_button.setObjectName("generate")
        self.generate_button.setToolTip("Generate (Ctrl+Enter)")
        self.generate_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Cancel (Esc)")
        self.progress = QProgressBar()
        self.progress.setFormat("Step %v/%m")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress_label = QLabel("Ready")
        self.progress_label.setObjectName("progressLabel")
        self.model_label = QLabel("Model: not loaded yet")
        self.model_label.setWordWrap(True)

        buttons = QHBoxLayout()
        buttons.addWidget(self.generate_button, 2)
        buttons.addWidget(self.cancel_button, 1)
        left = QWidget()
        column = QVBoxLayout(left)
        scroll = QScrollArea()
        scroll.setWidget(self.panel)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        column.addWidget(self.model_label)
        column.addWidget(scroll, 1)
        column.addLayout(buttons)
        column.addWidget(self.progress)
        column.addWidget(self.progress_label)

        self.error_banner = QLabel()
        self.error_banner.setObjectName("errorBanner")
        self.error_banner.setWordWrap(True)
        self.error_banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_banner.setStyleSheet(
            "QLabel#errorBanner { background: #6b2226; color: white; padding: 8px;"
            " border-radius: 4px; }"
        )
        self.error_banner.hide()
        self.canvas = Canvas()
        right = QWidget()
        stack = QVBoxLayout(right)
        stack.setContentsMargins(0, 0, 0, 0)
        stack.addWidget(self.error_banner)
        stack.addWidget(self.canvas, 1)

        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([340, 760])
        self.setCentralWidget(splitter)

    def _connect(self) -> None:
        self.generate_button.clicked.connect(self.generate)
        self.cancel_button.clicked.connect(self.cancel)
        self.panel.prompt.submitted.connect(self.generate)
        self.panel.negative.submitted.connect(self.generate)
        for keys in ("Ctrl+Return", "Ctrl+Enter"):
            QShortcut(QKeySequence(keys), self, activated=self.generate)
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, activated=self.cancel)
        self.submit.connect(self.worker.run_job)
        self.load_requested.connect(self.worker.load_model)
        # Worker signals arrive queued and run here, on the GUI thread (bound methods of a
        # GUI-thread object; a lambda would run on the worker thread).
        self.worker.status.connect(self._on_status)
        self.worker.model_loaded.connect(self._on_model_loaded)
        self.worker.progressed.connect(self._on_progress)
        self.worker.previewed.connect(self._on_preview)
        self.worker.finished.connect(self._on_finished)
        self.worker.failed.connect(self._on_failed)
        self.worker.cancelled.connect(self._on_cancelled)

    # --- actions -----------------------------------------------------------------------------

    def load_model(self) -> None:
        self.load_requested.emit(self.model)

    @Slot()
    def generate(self) -> None:
        if self.running_job:
            return
        try:
            request = self.panel.request(self.model)
        except BrushworkError as exc:
            self.show_error(str(exc))
            return
        self.error_banner.hide()
        job = self._next_job
        self._next_job += 1
        self.running_job = job
        self.canvas.begin_job(job, QSize(request.width, request.height))
        self.progress.setRange(0, request.steps)
        self.progress.setValue(0)
        self.progress_label.setText("Starting…")
        self._set_running(True)
        self.submit.emit(job, request)

    @Slot()
    def cancel(self) -> None:
        if self.running_job:
            self.worker.cancel(self.running_job)
            self.progress_label.setText("Cancelling…")

    def show_error(self, message: str) -> None:
        self.error_banner.setText(message)
        self.error_banner.show()

    def _set_running(self, running: bool) -> None:
        self.generate_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)

    def _end_job(self, job: int, label: str) -> bool:
        if job != self.running_job:
            return False
        self.running_job = 0
        self._set_running(False)
        self.progress_label.setText(label)
        return True

    # --- worker signals ----------------------------------------------------------------------

    @Slot(str)
    def _on_status(self, text: str) -> None:
        if self.running_job:
            self.progress_label.setText(text)
        else:
            self.statusBar().showMessage(text)

    @Slot(str)
    def _on_model_loaded(self, name: str) -> None:
        self.model_label.setText(f"Model: {name}")
        if not self.running_job:
            self.statusBar().showMessage(f"Model {name} ready · images go to {self.output_dir}")

    @Slot(int, int, int, float)
    def _on_progress(self, job: int, step: int, total: int, elapsed: float) -> None:
        if job != self.running_job:
            return
        self.progress.setRange(0, total)
        self.progress.setValue(step)
        self.progress_label.setText(format_progress(step, total, elapsed))

    @Slot(int, QImage)
    def _on_preview(self, job: int, image: QImage) -> None:
        self.canvas.show_preview(job, image)

    @Slot(int, object)
    def _on_finished(self, job: int, results: list[GeneratedImage]) -> None:
        if not self._end_job(job, "Done"):
            return
        self.last_results = results
        first = results[0]
        self.canvas.show_image(array_to_qimage(first.image))
        self.panel.show_used_seed(first.seed)
        names = ", ".join(r.path.name for r in results)
        self.statusBar().showMessage(f"Saved {names} in {first.path.parent} · seed {first.seed}")

    @Slot(int, str)
    def _on_failed(self, job: int, message: str) -> None:
        if job == 0 or self._end_job(job, "Failed"):
            self.show_error(message)

    @Slot(int)
    def _on_cancelled(self, job: int) -> None:
        if self._end_job(job, "Cancelled"):
            self.statusBar().showMessage("Cancelled")

    def closeEvent(self, event: QCloseEvent) -> None:
        self.cancel()  # the app waits for the worker thread after the event loop ends
        super().closeEvent(event)


def format_progress(step: int, total: int, elapsed: float) -> str:
    """`Step 3/20 · 4.2 it/s · ETA 0:04` (s/it when slower than one step a second)."""
    if step <= 0 or elapsed <= 0:
        return f"Step {step}/{total}"
    rate = step / elapsed
    speed = f"{rate:.1f} it/s" if rate >= 1 else f"{1 / rate:.1f} s/it"
    remaining = round((total - step) / rate)
    return f"Step {step}/{total} · {speed} · ETA {remaining // 60}:{remaining % 60:02d}"
