"""The job queue: the running job on top, then the waiting ones, removable and reorderable
(drag) until they start.

Rows never jump under the pointer: a job that starts stays in its row (marked running), and a
finished job's row is taken out only once the pointer has left the list, so the row the user is
about to click is still the one under the pointer.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QAbstractItemView, QListWidget, QListWidgetItem, QWidget

from pipeline import GenerationRequest

JOB_ROLE = Qt.ItemDataRole.UserRole
STATE_ROLE = Qt.ItemDataRole.UserRole + 1
WAITING, RUNNING, FINISHED = "waiting", "running", "finished"
NOTHING_SELECTED = "Select the waiting jobs to remove first (click; Ctrl+click for more)."


class JobQueue(QListWidget):
    """The list's order is the run order; the requests are kept beside it by job id."""

    changed = Signal()  # rows added, started, finished or removed
    notice = Signal(str)  # a message for the status line

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("queue")
        self.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setMaximumHeight(110)
        # Long prompts are cut at the edge (the full text is the row's tooltip), not scrolled.
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.setToolTip("The running job, then the waiting ones: drag to reorder, Delete removes")
        self._requests: dict[int, GenerationRequest] = {}
        self._pointer_inside = False

    def push(self, job_id: int, request: GenerationRequest) -> None:
        self._requests[job_id] = request
        item = QListWidgetItem(_describe(job_id, request))
        item.setToolTip(request.prompt)
        item.setData(JOB_ROLE, job_id)
        item.setData(STATE_ROLE, WAITING)
        self.addItem(item)
        self.changed.emit()

    def _rows(self, state: str) -> list[QListWidgetItem]:
        items = (self.item(row) for row in range(self.count()))
        return [item for item in items if item.data(STATE_ROLE) == state]

    def job_ids(self) -> list[int]:
        """The waiting jobs, in run order."""
        return [item.data(JOB_ROLE) for item in self._rows(WAITING)]

    def waiting_count(self) -> int:
        return len(self._rows(WAITING))

    def running_job(self) -> int:
        running = self._rows(RUNNING)
        return running[0].data(JOB_ROLE) if running else 0

    def pop_next(self) -> tuple[int, GenerationRequest] | None:
        """The next waiting job, now marked running in its own row (shown until it ends)."""
        waiting = self._rows(WAITING)
        if not waiting:
            return None
        item = waiting[0]
        job_id = item.data(JOB_ROLE)
        request = self._requests.pop(job_id)
        self._set_state(item, RUNNING, f"▶ running: {_describe(job_id, request)}")
        self.changed.emit()
        return job_id, request

    def finish(self, job_id: int) -> None:
        """The running job ended: its row goes now, or when the pointer leaves the list."""
        for item in self._rows(RUNNING):
            if item.data(JOB_ROLE) == job_id:
                self._set_state(item, FINISHED, item.text().replace("▶ running: ", "✓ ended: "))
        self._drop_finished()
        self.changed.emit()

    def _set_state(self, item: QListWidgetItem, state: str, text: str) -> None:
        item.setData(STATE_ROLE, state)
        item.setText(text)
        item.setSelected(False)
        item.setFlags(Qt.ItemFlag.ItemIsEnabled)  # neither selectable nor draggable
        font = QFont(item.font())
        font.setItalic(state == FINISHED)
        font.setBold(state == RUNNING)
        item.setFont(font)

    def _drop_finished(self) -> None:
        if self._pointer_inside:
            return
        for item in self._rows(FINISHED):
            self.takeItem(self.row(item))

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Enter:
            self._pointer_inside = True
        elif event.type() == QEvent.Type.Leave:
            self._pointer_inside = False
            self._drop_finished()
            self.changed.emit()
        return super().event(event)

    def remove(self, job_ids: list[int]) -> None:
        for item in self._rows(WAITING):
            if item.data(JOB_ROLE) in job_ids:
                self._requests.pop(self.takeItem(self.row(item)).data(JOB_ROLE), None)
        self.changed.emit()

    def remove_selected(self) -> None:
        chosen = [item.data(JOB_ROLE) for item in self.selectedItems()]
        if not chosen:
            self.notice.emit(NOTHING_SELECTED if self.waiting_count() else "No job is waiting.")
            return
        self.remove(chosen)

    def clear_all(self) -> None:
        self.remove(self.job_ids())

    def move(self, job_id: int, position: int) -> None:
        """Moves a waiting job to `position` among the waiting ones (what a drag does; used by
        keyboard and tests)."""
        item = next(item for item in self._rows(WAITING) if item.data(JOB_ROLE) == job_id)
        taken = self.takeItem(self.row(item))
        rest = self._rows(WAITING)
        if position < len(rest):
            row = self.row(rest[position])
        else:
            row = self.row(rest[-1]) + 1 if rest else self.count()
        self.insertItem(row, taken)
        self.changed.emit()


def _describe(job_id: int, request: GenerationRequest) -> str:
    prompt = request.prompt if len(request.prompt) <= 40 else request.prompt[:39] + "…"
    return f"#{job_id} {request.mode.value} · seed {request.seed} · {prompt}"
