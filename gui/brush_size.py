"""The brush size control: a log-scale slider whose size is kept relative to the image.

A linear 1–512 px slider left a 64-px image a sliver of its track and made the default 48 px
brush most of the picture. Here the track spans 1 px to the image's longer side on a log scale
(small brushes get as much travel as large ones), and what is remembered, across images and
restarts, is the size as a fraction of the image's shorter side.
"""

from __future__ import annotations

import math

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QSlider, QWidget

TRACK = 1000  # slider positions
DEFAULT_FRACTION = 0.125  # of the image's shorter side: 8 px on 64 px, 64 px on 512 px
MIN_FRACTION, MAX_FRACTION = 0.001, 2.0


def clamp_fraction(value: float) -> float:
    if not math.isfinite(value):
        return DEFAULT_FRACTION
    return min(max(value, MIN_FRACTION), MAX_FRACTION)


class BrushSizeSlider(QSlider):
    """`pixels()` is the brush diameter for the current image; `valueChanged` as any slider."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.setRange(0, TRACK)
        self.setToolTip("Brush size ([ and ]), relative to the image")
        self.setMinimumWidth(70)
        self.setMaximumWidth(140)
        self._short, self._long = 512, 512
        self._fraction = DEFAULT_FRACTION
        self._pixels = self._from_fraction()
        self._place()
        self.valueChanged.connect(self._on_moved)

    @property
    def fraction(self) -> float:
        """The size as a fraction of the image's shorter side (what is remembered)."""
        return self._fraction

    def pixels(self) -> int:
        return self._pixels

    def set_image_size(self, width: int, height: int) -> None:
        """A new image: the brush keeps its size relative to it."""
        self._short, self._long = max(1, min(width, height)), max(1, width, height)
        self._pixels = self._from_fraction()
        self._place()
        self.valueChanged.emit(self.value())  # the size in pixels changed even if the knob not

    def set_fraction(self, fraction: float) -> None:
        self._fraction = clamp_fraction(fraction)
        self._pixels = self._from_fraction()
        self._place()
        self.valueChanged.emit(self.value())

    def set_pixels(self, pixels: int) -> None:
        pixels = min(max(int(pixels), 1), self._max_pixels())
        self._fraction = clamp_fraction(pixels / self._short)
        self._pixels = pixels
        self._place()
        self.valueChanged.emit(self.value())

    def _max_pixels(self) -> int:
        return max(2, self._long)

    def _from_fraction(self) -> int:
        return min(max(1, round(self._fraction * self._short)), self._max_pixels())

    def _place(self) -> None:
        """Moves the knob to the size without treating it as a user move."""
        self.blockSignals(True)
        self.setValue(self._position_of(self._pixels))
        self.blockSignals(False)

    def _on_moved(self, position: int) -> None:
        if position == self._position_of(self._pixels):
            return  # the knob shows the current size (or a re-emit after set_*): keep it exact
        self._pixels = max(1, round(self._max_pixels() ** (position / TRACK)))
        self._fraction = clamp_fraction(self._pixels / self._short)

    def _position_of(self, pixels: int) -> int:
        return round(TRACK * math.log(pixels) / math.log(self._max_pixels()))
