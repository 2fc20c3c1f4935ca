"""The only place where numpy arrays and QImages are converted into each other."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage


def array_to_qimage(array: np.ndarray) -> QImage:
    """An H×W×3 uint8 array as a QImage that owns its pixels (safe to send across threads)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    height, width, _ = array.shape
    view = QImage(array.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    return view.copy()  # the view points into `array`, which may be freed after this returns


def qimage_to_array(image: QImage) -> np.ndarray:
    """An H×W×3 uint8 copy of `image`'s pixels."""
    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    height, width = rgb.height(), rgb.width()
    rows = np.frombuffer(rgb.constBits(), np.uint8, count=rgb.bytesPerLine() * height)
    return rows.reshape(height, rgb.bytesPerLine())[:, : width * 3].reshape(height, width, 3).copy()
