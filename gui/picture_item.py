"""The canvas's picture: the document's flattened layers, redrawn one changed box at a time.

A QPixmap of the whole picture made again for every dab costs tens of milliseconds on a 2048²
canvas and repaints the whole view; this item keeps its own 32-bit buffer (shared with a QImage,
Qt's fastest format to draw), copies only the box a dab changed and repaints only that box.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem

from .document import Document
from .mask_brush import Box


class BufferedItem(QGraphicsItem):
    """A document-sized item drawn from its own 32-bit buffer (shared with a QImage, Qt's
    fastest format to draw); `refresh(box)` rewrites and repaints only that box. Subclasses
    say the format, the blank byte value and how a box is filled (`_fill`)."""

    FORMAT = QImage.Format.Format_RGB32
    BLANK = 255

    def __init__(self, doc: Document) -> None:
        super().__init__()
        self.doc = doc
        self._buffer = np.zeros((1, 1, 4), np.uint8)
        self._image = QImage()
        # Paint gets the rectangle really exposed (a dab's box), not the whole picture.
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption)

    def rebuild(self) -> None:
        """A buffer at the document's size, filled from the whole document."""
        height, width = self.doc.height, self.doc.width
        self.prepareGeometryChange()
        self._buffer = np.full((height, width, 4), self.BLANK, np.uint8)
        # The QImage shares the buffer's memory: refresh() writes into it in place.
        self._image = QImage(self._buffer.data, width, height, 4 * width, self.FORMAT)
        self.refresh(None)

    def refresh(self, box: Box | None) -> None:
        height, width = self.doc.height, self.doc.width
        if self._buffer.shape[:2] != (height, width):
            self.rebuild()
            return
        x0, y0, x1, y1 = box if box is not None else (0, 0, width, height)
        if x0 >= x1 or y0 >= y1:
            return
        self._fill(self._buffer[y0:y1, x0:x1], (x0, y0, x1, y1))
        self.update(QRectF(x0, y0, x1 - x0, y1 - y0))

    def _fill(self, region: np.ndarray, box: Box) -> None:
        raise NotImplementedError

    def boundingRect(self) -> QRectF:
        return QRectF(0, 0, self.doc.width, self.doc.height)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        exposed = option.exposedRect.toAlignedRect()  # type: ignore[attr-defined]
        painter.drawImage(exposed, self._image, exposed)


class PictureItem(BufferedItem):
    def __init__(self, doc: Document) -> None:
        super().__init__(doc)
        self.rebuild()

    def _fill(self, region: np.ndarray, box: Box) -> None:
        # RGB32 is stored as B, G, R, 255 bytes on little-endian machines.
        region[..., 2::-1] = self.doc.image_region(box)

    def pixel(self, x: int, y: int) -> tuple[int, int, int]:
        """The colour shown at (x, y) (tests compare it with the document)."""
        b, g, r, _ = self._buffer[y, x]
        return int(r), int(g), int(b)
