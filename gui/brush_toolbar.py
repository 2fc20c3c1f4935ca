"""The mask tools above the canvas: brush or eraser, size, hardness, overlay opacity and colour.

The toolbar is a view of the canvas's brush and overlay: every change is passed on to the
canvas at once, and its shortcuts ([ and ], B, E) work anywhere in the window.
"""

from __future__ import annotations

import math

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QKeySequence, QShortcut
from PySide6.QtWidgets import QColorDialog, QLabel, QPushButton, QSlider, QToolBar

from .brush_size import BrushSizeSlider
from .canvas import Canvas
from .mask_brush import BrushSettings


class BrushToolbar(QToolBar):
    def __init__(self, canvas: Canvas) -> None:
        super().__init__("Mask tools")
        self.canvas = canvas
        self.brush_action = self.addAction("Brush")
        self.eraser_action = self.addAction("Eraser")
        for action, tip in ((self.brush_action, "B"), (self.eraser_action, "E")):
            action.setCheckable(True)
            action.setToolTip(f"{action.text()} ({tip}) — paints the area to regenerate")
        self.brush_action.setChecked(True)
        self.size_slider = BrushSizeSlider()
        self.hardness_slider = _slider(0, 100, 80, "Brush hardness: 0 soft, 100 hard edge")
        self.opacity_slider = _slider(0, 100, 50, "Mask overlay opacity")
        self.size_value = QLabel()
        self.color_button = QPushButton("Mask colour")
        self.zoom_label = QLabel()
        for label, widget in (
            ("Size", self.size_slider),
            (None, self.size_value),
            ("Hardness", self.hardness_slider),
            ("Mask", self.opacity_slider),
        ):
            if label:
                self.addWidget(QLabel(f" {label} "))
            self.addWidget(widget)
        self.addWidget(self.color_button)
        self.addAction(canvas.mask_action)
        self.addSeparator()
        self.addWidget(self.zoom_label)
        self._connect()
        self._brush_from_controls()

    def _connect(self) -> None:
        for keys, slot in (
            ("[", lambda: self.resize_brush(1 / 1.2)),
            ("]", lambda: self.resize_brush(1.2)),
            ("B", lambda: self.set_erase(False)),
            ("E", lambda: self.set_erase(True)),
        ):
            # A window shortcut: active wherever the focus is in the toolbar's window.
            QShortcut(QKeySequence(keys), self, activated=slot)
        self.brush_action.triggered.connect(lambda: self.set_erase(False))
        self.eraser_action.triggered.connect(lambda: self.set_erase(True))
        self.size_slider.valueChanged.connect(self._brush_from_controls)
        self.hardness_slider.valueChanged.connect(self._brush_from_controls)
        self.opacity_slider.valueChanged.connect(self._mask_style_from_controls)
        self.color_button.clicked.connect(self._pick_mask_color)
        self.canvas.zoom_changed.connect(lambda z: self.zoom_label.setText(f" {z:.0%} "))

    def resize_brush(self, factor: float) -> None:
        size = self.size_slider.pixels()
        new = round(size * factor)
        self.size_slider.set_pixels(new if new != size else size + (1 if factor > 1 else -1))

    def set_erase(self, erase: bool) -> None:
        self.brush_action.setChecked(not erase)
        self.eraser_action.setChecked(erase)
        self._brush_from_controls()

    def _brush_from_controls(self) -> None:
        size = self.size_slider.pixels()
        self.size_value.setText(f"{size} px ")
        erase = self.eraser_action.isChecked()
        self.canvas.set_brush(BrushSettings(size, self.hardness_slider.value() / 100, erase))

    def restore(self, brush_size: float, mask_color: str, mask_opacity: float) -> None:
        """Brush size, mask colour and opacity as the user left them (bad values: defaults)."""
        self.size_slider.set_fraction(brush_size)
        color = QColor(mask_color)
        opacity = min(max(mask_opacity, 0.0), 1.0) if math.isfinite(mask_opacity) else 0.5
        self.opacity_slider.setValue(round(100 * opacity))
        if color.isValid():
            self.canvas.overlay.set_style(color, self.opacity_slider.value() / 100)

    def remembered(self) -> tuple[float, str, float]:
        """(brush size as a fraction of the image, mask colour, mask opacity) for settings."""
        overlay = self.canvas.overlay
        return self.size_slider.fraction, overlay.color.name(), overlay.opacity_level

    def _mask_style_from_controls(self) -> None:
        self.canvas.overlay.set_style(self.canvas.overlay.color, self.opacity_slider.value() / 100)

    def _pick_mask_color(self) -> None:
        color = QColorDialog.getColor(self.canvas.overlay.color, self, "Mask colour")
        if color.isValid():
            self.canvas.overlay.set_style(color, self.opacity_slider.value() / 100)


def _slider(low: int, high: int, value: int, tip: str) -> QSlider:
    slider = QSlider(Qt.Orientation.Horizontal)
    slider.setRange(low, high)
    slider.setValue(value)
    slider.setToolTip(tip)
    slider.setMinimumWidth(70)
    slider.setMaximumWidth(140)
    return slider
