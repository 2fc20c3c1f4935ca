"""The left column: model picker, parameters, Generate/Cancel, progress and the job queue.

A view of the generation controller: `bind` connects it to the controller's signals, and the
window decides what Generate does (it builds the request from the panel and the document).
"""

from __future__ import annotations

from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from .control_panel import ControlPanel
from .few_step_button import FewStepButton
from .generation import GenerationController
from .job_queue import JobQueue
from .model_picker import ModelPicker
from .panels import ParametersPanel
from .progress_bar import StepProgressBar
from .progress_text import IDLE_FORMAT


class SidePanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.panel = ParametersPanel()
        self.generate_button = QPushButton("Generate")
        self.generate_button.setObjectName("generate")
        self.generate_button.setToolTip("Generate (Ctrl+Enter)")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Cancel (Esc)")
        self.progress = StepProgressBar()
        self.progress.setFormat(IDLE_FORMAT)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress_label = QLabel("Ready")
        self.model_picker = ModelPicker()
        self.model_label = QLabel("Model: not loaded yet")
        self.model_label.setWordWrap(True)
        self.queue = JobQueue()
        # A few rows: the parameters above get the height (the queue scrolls its own list).
        self.queue.setMaximumHeight(self.queue.fontMetrics().height() * 7)
        self.few_step = FewStepButton(self.panel)  # shown for LCM/Turbo/… models only
        self.queue_label = QLabel()
        self.control = ControlPanel()  # ControlNet units (control_panel.py)
        self._where = ""  # where the running job runs, for jobs on a server

        buttons = QHBoxLayout()
        buttons.addWidget(self.generate_button, 2)
        buttons.addWidget(self.cancel_button, 1)
        column = QVBoxLayout(self)
        column.addWidget(self.model_picker)
        column.addWidget(self.model_label)
        column.addWidget(self.few_step)
        column.addWidget(self.panel, 1)  # it scrolls its own fields, below Mode (panels.py)
        self.panel.add_section(self.control)
        column.addLayout(buttons)
        column.addWidget(self.progress)
        column.addWidget(self.progress_label)
        column.addLayout(self._queue_buttons())
        column.addWidget(self.queue)
        self.queue.model().rowsInserted.connect(self._show_queue_size)
        self.queue.model().rowsRemoved.connect(self._show_queue_size)
        self.queue.changed.connect(self._show_queue_size)
        self.set_running(False)
        self._show_queue_size()

    def _queue_buttons(self) -> QHBoxLayout:
        remove = QPushButton("Remove")
        remove.setToolTip("Remove the selected waiting jobs (Delete)")
        remove.clicked.connect(self.queue.remove_selected)
        clear = QPushButton("Clear queue")
        clear.clicked.connect(self.queue.clear_all)
        QShortcut(QKeySequence.StandardKey.Delete, self.queue, activated=self.queue.remove_selected)
        row = QHBoxLayout()
        row.addWidget(self.queue_label, 1)
        row.addWidget(remove)
        row.addWidget(clear)
        return row

    def bind(self, controller: GenerationController) -> None:
        self.cancel_button.clicked.connect(controller.cancel)
        controller.running_changed.connect(self.set_running)
        controller.progressed.connect(self._show_progress)
        controller.progress_text.connect(self.progress_label.setText)
        controller.model_text.connect(self.model_label.setText)
        controller.job_location.connect(self._show_where)
        # Emitted on the GUI thread when a model starts loading and when it is loaded.
        controller.model_text.connect(lambda _text: self.few_step.show_for(controller.model))

    def set_running(self, running: bool) -> None:
        self.generate_button.setText("Add to queue" if running else "Generate")
        self.cancel_button.setEnabled(running)

    def _show_progress(self, value: int, maximum: int, text_format: str) -> None:
        self.progress.show_step(value, maximum, text_format)

    def _show_where(self, where: str) -> None:
        self._where = where
        self._show_queue_size()

    def _show_queue_size(self) -> None:
        count = self.queue.waiting_count()
        where = f"{self._where} · " if self._where else ""
        self.queue_label.setText(where + (f"{count} waiting" if count else "Queue empty"))
