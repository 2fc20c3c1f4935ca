"""The generation progress bar, redrawn at most 10 times a second.

QProgressBar.setValue repaints synchronously whenever the bar's text or filled length changes:
about 3 ms of the GUI thread per step, which a GPU at 20–50 steps a second turns into 60–150 ms
of every second spent on one small widget while the canvas needs the thread for previews and
strokes. Steps in between are shown by the next redraw; a new job's first step (its range or
label changes) and its last step are shown at once, so the bar never lags what is done.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QProgressBar, QWidget

MIN_INTERVAL_S = 0.1


class StepProgressBar(QProgressBar):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._shown_at = 0.0
        self._pending: int | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._show_pending)

    def show_step(self, value: int, maximum: int, text_format: str) -> None:
        """Shows `value` of `maximum` steps now, or at the next redraw if one was just made."""
        new_job = maximum != self.maximum() or text_format != self.format()
        if new_job or value >= maximum or value <= 0 or self._due():
            self._timer.stop()
            self._pending = None
            self.setFormat(text_format)
            self.setRange(0, maximum)
            self._set(value)
            return
        self._pending = value
        if not self._timer.isActive():
            wait = MIN_INTERVAL_S - (time.monotonic() - self._shown_at)
            self._timer.start(max(1, round(wait * 1000)))

    def _due(self) -> bool:
        return time.monotonic() - self._shown_at >= MIN_INTERVAL_S

    def _show_pending(self) -> None:
        if self._pending is not None:
            value, self._pending = self._pending, None
            self._set(value)

    def _set(self, value: int) -> None:
        self.setValue(value)
        self._shown_at = time.monotonic()
