"""Pending generation jobs: visible, removable and reorderable (drag) until they start."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QListWidget, QListWidgetItem, QWidget

from pipeline import GenerationRequest

JOB_ROLE = Qt.ItemDataRole.UserRole


class JobQueue(QListWidget):
    """The list's order is the run order; the requests are kept beside it by job id."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("queue")
        self.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setMaximumHeight(110)
        self.setToolTip("Waiting jobs: drag to reorder, Delete removes the selected ones")
        self._requests: dict[int, GenerationRequest] = {}

    def push(self, job_id: int, request: GenerationRequest) -> None:
        self._requests[job_id] = request
        prompt = request.prompt if len(request.prompt) <= 40 else request.prompt[:39] + "…"
        item = QListWidgetItem(f"#{job_id} {request.mode.value} · seed {request.seed} · {prompt}")
        item.setData(JOB_ROLE, job_id)
        self.addItem(item)

    def job_ids(self) -> list[int]:
        return [self.item(row).data(JOB_ROLE) for row in range(self.count())]

    def pop_next(self) -> tuple[int, GenerationRequest] | None:
        if not self.count():
            return None
        job_id = self.takeItem(0).data(JOB_ROLE)
        return job_id, self._requests.pop(job_id)

    def remove(self, job_ids: list[int]) -> None:
        for row in reversed(range(self.count())):
            if self.item(row).data(JOB_ROLE) in job_ids:
                self._requests.pop(self.takeItem(row).data(JOB_ROLE), None)

    def remove_selected(self) -> None:
        self.remove([item.data(JOB_ROLE) for item in self.selectedItems()])

    def clear_all(self) -> None:
        self.remove(self.job_ids())

    def move(self, job_id: int, row: int) -> None:
        """Moves a job to `row` (what a drag does; used by keyboard and tests)."""
        current = self.job_ids().index(job_id)
        self.insertItem(row, self.takeItem(current))
