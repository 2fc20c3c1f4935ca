"""Autosave: the session (see session.py) is written on a timer while the document changes,
after every result and on quit, so a crash or `kill -9` loses almost nothing.

Encoding and fsyncing two PNGs takes seconds for a large canvas, so it happens on a writer
thread: the GUI thread only copies the arrays (milliseconds) and hands the copy over. One save
runs at a time; a save asked for while one runs replaces any older waiting one (only the newest
state matters). Each write is crash-safe on its own (session.py), so a kill mid-write keeps the
previous session.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from .session import SessionState, SessionStore

AUTOSAVE_MS = 30_000  # the session is saved this often while the document keeps changing


class Autosave(QObject):
    failed = Signal(str)  # a sentence for the status bar; a failed save is never fatal
    saved = Signal()  # a save is complete on disk
    _written = Signal(object)  # from the writer thread: None, or why the save failed

    def __init__(
        self,
        store: SessionStore | None,
        state: Callable[[], SessionState],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.store = store
        self.state = state  # what to save, asked at save time
        self.dirty = False  # changed since the last state handed to the writer
        self.timer = QTimer(self)
        self.timer.setInterval(AUTOSAVE_MS)
        self.timer.timeout.connect(self._save_if_dirty)
        self._changed = threading.Condition()  # guards the three fields below
        self._waiting: SessionState | None = None
        self._writing = False
        self._closing = False
        # Started once and kept: starting a thread per save costs the GUI thread a GIL hand-off.
        self._writer = threading.Thread(
            target=self._write_waiting, name="brushwork-autosave", daemon=True
        )
        self._written.connect(self._on_written)  # queued: runs on the GUI thread

    def start(self) -> None:
        if self.store is not None:
            self._writer.start()
            self.timer.start()

    def close(self) -> None:
        """Writes what is still waiting and ends the writer thread (the app is quitting)."""
        self.timer.stop()
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        if self._writer.is_alive():
            self._writer.join()

    def mark_dirty(self, *_args: object) -> None:
        self.dirty = True

    @property
    def busy(self) -> bool:
        """A save is being written or waits to be."""
        with self._changed:
            return self._writing or self._waiting is not None

    @property
    def settled(self) -> bool:
        """Everything the user did is on disk."""
        return not self.dirty and not self.busy

    def _save_if_dirty(self) -> None:
        if self.dirty:
            self.save()

    def save(self) -> bool:
        """Hands a copy of the session to the writer thread; False if there is no session."""
        if self.store is None or not self._writer.is_alive():
            return False
        state = self.state()
        # The mask changes in place (brush strokes): the writer gets its own copy. The image is
        # read-only (document.py) and shared; a writable one is copied too.
        image = state.image if not state.image.flags.writeable else state.image.copy()
        snapshot = dataclasses.replace(state, image=image, mask=state.mask.copy())
        self.dirty = False
        with self._changed:
            self._waiting = snapshot  # an older state still waiting is not needed any more
            self._changed.notify_all()
        return True

    def wait(self, timeout: float | None = None) -> bool:
        """Blocks until every handed-over save is written (on quit); False on timeout."""
        with self._changed:
            return self._changed.wait_for(
                lambda: not self._writing and self._waiting is None, timeout
            )

    def _write_waiting(self) -> None:
        assert self.store is not None
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._waiting is not None or self._closing)
                state, self._waiting = self._waiting, None
                if state is None:
                    return  # closing, and nothing left to write
                self._writing = True
            error = self._write(state)
            with self._changed:
                self._writing = False
                self._changed.notify_all()
            with contextlib.suppress(RuntimeError):  # the window is gone (the app quits)
                self._written.emit(error)

    def _write(self, state: SessionState) -> str | None:
        assert self.store is not None
        try:
            self.store.save(state)
        except OSError as exc:
            return f"The session could not be saved: {exc}"
        except Exception as exc:  # a bug must not end autosaving silently
            return f"The session could not be saved: {type(exc).__name__}: {exc}"
        return None

    @Slot(object)
    def _on_written(self, error: str | None) -> None:
        if error is None:
            self.saved.emit()
            return
        self.dirty = True  # try again at the next tick
        self.failed.emit(error)
