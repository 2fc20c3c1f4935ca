"""A small button filled with one colour: the paint colour and the recent colours."""

from __future__ import annotations

from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QToolButton

BORDER = QColor(136, 136, 136)


class ColorSwatch(QToolButton):
    """Paints its colour itself. A style sheet per colour (the obvious way) restyles the
    button and its toolbar on every change: 2–7 ms of the GUI thread for each colour picked,
    which lands in the same event as the stroke that follows an eyedropper click."""

    def __init__(self, size: int, tip: str) -> None:
        super().__init__()
        self.setFixedSize(size, size)
        self._tip = tip
        self.color = QColor()  # none yet: the first set_color always shows
        self.setToolTip(tip)

    def set_color(self, color: QColor) -> None:
        if color == self.color:
            return
        self.color = QColor(color)
        self.setToolTip(f"{self._tip} · {color.name()}")
        self.update()

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(BORDER, 1))
        color = self.color if self.color.isValid() else self.palette().button().color()
        painter.setBrush(color if self.isEnabled() else color.darker(150))
        painter.drawRoundedRect(QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5), 3, 3)
        if self.hasFocus():  # keyboard users see where they are
            painter.setPen(QPen(self.palette().highlight().color(), 2))
            painter.setBrush(QColor(0, 0, 0, 0))
            painter.drawRoundedRect(QRectF(self.rect()).adjusted(2, 2, -2, -2), 2, 2)
        painter.end()
