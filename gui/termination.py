"""SIGTERM and SIGHUP (logging out, `kill PID`, closing the terminal) close the app the way
File → Quit does: the session and settings are saved and the exit counts as clean.

Python runs a signal handler only when the interpreter gets control, and it does not while Qt's
event loop waits in C++. So the signal's wake-up byte (`signal.set_wakeup_fd`) is written to a
socket that a QSocketNotifier watches: the byte wakes the event loop, and the notifier's slot
quits from there, between two events, never in the middle of one.
"""

from __future__ import annotations

import signal
import socket
from collections.abc import Callable

from PySide6.QtCore import QObject, QSocketNotifier, Slot

QUIT_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)


class QuitOnSignal(QObject):
    """Calls `quit` on the GUI thread when one of QUIT_SIGNALS arrives; `uninstall` undoes it.
    Must be created on the main thread (Python's rule for signal handlers)."""

    def __init__(self, quit: Callable[[], object], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._quit = quit
        self._reader, self._writer = socket.socketpair()
        for end in (self._reader, self._writer):
            end.setblocking(False)
        self._old_fd = signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        # A Python-level handler is what makes the C handler write the byte; it has no work.
        self._old_handlers = {sig: signal.signal(sig, _noted) for sig in QUIT_SIGNALS}
        self._notifier = QSocketNotifier(self._reader.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._on_wakeup)

    @Slot()
    def _on_wakeup(self) -> None:
        try:
            received = self._reader.recv(64)
        except BlockingIOError:
            return
        if any(number in QUIT_SIGNALS for number in received):
            self._quit()

    def uninstall(self) -> None:
        self._notifier.setEnabled(False)
        for sig, handler in self._old_handlers.items():
            signal.signal(sig, handler)
        signal.set_wakeup_fd(self._old_fd)
        self._reader.close()
        self._writer.close()


def _noted(_signum: int, _frame: object) -> None:
    """The wake-up byte has already been written; the notifier's slot does the quitting."""
