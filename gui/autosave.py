"""Autosave: the session (see session.py) is written on a timer while the document changes,
after every result and on quit, so a crash or `kill -9` loses almost nothing."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal

from .session import SessionState, SessionStore

AUTOSAVE_MS = 30_000  # the session is saved this often while the document keeps changing


class Autosave(QObject):
    failed = Signal(str)  # a sentence for the status bar; a failed save is never fatal

    def __init__(
        self,
        store: SessionStore | None,
        state: Callable[[], SessionState],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.store = store
        self.state = state  # what to save, asked at save time
        self.dirty = False
        self.timer = QTimer(self)
        self.timer.setInterval(AUTOSAVE_MS)
        self.timer.timeout.connect(self._save_if_dirty)

    def start(self) -> None:
        if self.store is not None:
            self.timer.start()

    def mark_dirty(self, *_args: object) -> None:
        self.dirty = True

    def _save_if_dirty(self) -> None:
        if self.dirty:
            self.save()

    def save(self) -> bool:
        """Saves the session now; a failure is reported on `failed`, never raised."""
        if self.store is None:
            return False
        try:
            self.store.save(self.state())
        except OSError as exc:
            self.failed.emit(f"The session could not be saved: {exc}")
            return False
        self.dirty = False
        return True
