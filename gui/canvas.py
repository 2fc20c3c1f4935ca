"""The canvas: shows the live preview of the running job, then the finished image."""

from __future__ import annotations

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget


class Canvas(QWidget):
    """Draws one image scaled to fit, keeping its aspect ratio.

    Previews are a few latent pixels wide; they are stretched to the size of the image being made
    so that the picture does not jump when the final image replaces them. Previews of any job
    but the current one are dropped (they can still be in the signal queue after a cancel).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("canvas")
        self.setMinimumSize(256, 256)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._image: QImage | None = None
        self._target = QSize(512, 512)
        self._job = 0
        self._is_preview = False

    @property
    def image(self) -> QImage | None:
        return self._image

    @property
    def showing_preview(self) -> bool:
        return self._is_preview

    def begin_job(self, job_id: int, size: QSize) -> None:
        self._job = job_id
        self._target = size

    def show_preview(self, job_id: int, image: QImage) -> bool:
        """Shows a step preview; returns False (and shows nothing) for a stale job."""
        if job_id != self._job:
            return False
        self._set(image, preview=True)
        return True

    def show_image(self, image: QImage) -> None:
        self._target = image.size()
        self._set(image, preview=False)

    def _set(self, image: QImage, preview: bool) -> None:
        self._image = image
        self._is_preview = preview
        self.update()

    def image_rect(self) -> QRect:
        """Where the image is drawn: the target size fitted into the widget, centred."""
        size = self._target.scaled(self.size() - QSize(16, 16), Qt.AspectRatioMode.KeepAspectRatio)
        left = (self.width() - size.width()) // 2
        top = (self.height() - size.height()) // 2
        return QRect(left, top, size.width(), size.height())

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        try:
            painter.fillRect(self.rect(), QColor(38, 38, 42))
            if self._image is None:
                painter.setPen(QColor(150, 150, 155))
                painter.drawText(
                    self.rect(), Qt.AlignmentFlag.AlignCenter, "Your image will appear here"
                )
            else:
                painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
                painter.drawImage(self.image_rect(), self._image)
        finally:
            painter.end()  # PySide frees the painter late; an open one breaks the next paint
