"""The tools above the canvas: brush, eraser, eyedropper and fill; size, hardness, opacity;
the paint colour with a row of recent colours; the mask overlay's opacity and colour.

The toolbar (two rows: `second_row` is added under it) is a view of the canvas's tools: every
change is passed on to the canvas at once. Its shortcuts work anywhere in the window: [ and ]
resize, B brush, E eraser, I eyedropper, F fill (Alt+click picks a colour with any tool). The
brush and eraser act on what the Layers list has selected: the active layer, or the mask.
"""

from __future__ import annotations

import math

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QColor, QKeySequence, QShortcut
from PySide6.QtWidgets import QColorDialog, QLabel, QPushButton, QSlider, QToolBar

from .brush_size import BrushSizeSlider
from .canvas import Canvas
from .color_swatch import ColorSwatch
from .mask_brush import BrushSettings

RECENT_COLORS = 6
TOOL_KEYS = {"brush": "B", "eraser": "E", "picker": "I", "fill": "F"}
TOOL_TIPS = {
    "brush": "Brush (B): colour on the selected layer, or the inpaint mask",
    "eraser": "Eraser (E): erases the selected layer, or the inpaint mask",
    "picker": "Eyedropper (I, or Alt+click with any tool): picks a colour of the picture",
    "fill": "Fill (F): fills the area of one colour around the click",
}


class BrushToolbar(QToolBar):
    def __init__(self, canvas: Canvas) -> None:
        super().__init__("Tools")
        self.canvas = canvas
        group = QActionGroup(self)
        self.tool_actions = {}
        for tool, text in (("brush", "Brush"), ("eraser", "Eraser"),
                           ("picker", "Pick"), ("fill", "Fill")):  # fmt: skip
            action = self.addAction(text)
            action.setCheckable(True)
            action.setToolTip(TOOL_TIPS[tool])
            group.addAction(action)
            self.tool_actions[tool] = action
        self.brush_action = self.tool_actions["brush"]
        self.eraser_action = self.tool_actions["eraser"]
        self.brush_action.setChecked(True)
        self.size_slider = BrushSizeSlider()
        self.hardness_slider = _slider(0, 100, 80, "Brush hardness: 0 soft, 100 hard edge")
        self.paint_opacity_slider = _slider(1, 100, 100, "Brush and fill opacity")
        self.opacity_slider = _slider(0, 100, 50, "Mask overlay opacity")
        self.size_value = QLabel()
        self.paint_color_button = ColorSwatch(26, "Paint colour: click for the colour dialog")
        self.paint_color_button.setObjectName("paintColor")
        self.recent_buttons = [ColorSwatch(18, "Recent colour") for _ in range(RECENT_COLORS)]
        self.recent_colors: list[QColor] = []
        self._recent_actions: list[QAction] = []
        self.color_button = QPushButton("Mask colour")
        # Colours and the mask overlay: a second row, so no control hides behind "»".
        self.second_row = QToolBar("Colour and mask")
        self.zoom_label = QLabel()
        self._add_widgets()
        self._connect()
        self._brush_from_controls()
        self.set_paint_color(QColor(0, 0, 0))

    def _add_widgets(self) -> None:
        for label, widget in (
            ("Size", self.size_slider),
            (None, self.size_value),
            ("Hard", self.hardness_slider),
            ("Opacity", self.paint_opacity_slider),
        ):
            if label:
                self.addWidget(QLabel(f" {label} "))
            self.addWidget(widget)
        row = self.second_row
        row.addWidget(QLabel(" Colour "))
        row.addWidget(self.paint_color_button)
        for button in self.recent_buttons:
            # A toolbar shows or hides its widgets through their actions, not the widgets.
            self._recent_actions.append(row.addWidget(button))
            self._recent_actions[-1].setVisible(False)
        row.addSeparator()
        row.addWidget(QLabel(" Mask overlay "))
        row.addWidget(self.opacity_slider)
        row.addWidget(self.color_button)
        row.addAction(self.canvas.mask_action)
        row.addSeparator()
        row.addWidget(self.zoom_label)

    def _connect(self) -> None:
        shortcuts = [("[", lambda: self.resize_brush(1 / 1.2)),
                     ("]", lambda: self.resize_brush(1.2))]  # fmt: skip
        shortcuts += [(key, lambda t=tool: self.set_tool(t)) for tool, key in TOOL_KEYS.items()]
        for keys, slot in shortcuts:
            # A window shortcut: active wherever the focus is in the toolbar's window.
            QShortcut(QKeySequence(keys), self, activated=slot)
        for tool, action in self.tool_actions.items():
            action.triggered.connect(lambda _checked=False, t=tool: self.set_tool(t))
        self.size_slider.valueChanged.connect(self._brush_from_controls)
        self.hardness_slider.valueChanged.connect(self._brush_from_controls)
        self.paint_opacity_slider.valueChanged.connect(self._brush_from_controls)
        self.opacity_slider.valueChanged.connect(self._mask_style_from_controls)
        self.color_button.clicked.connect(self._pick_mask_color)
        self.paint_color_button.clicked.connect(self._choose_paint_color)
        for button in self.recent_buttons:
            button.clicked.connect(lambda _checked=False, b=button: self._use_recent(b))
        self.canvas.color_picked.connect(self.set_paint_color)
        self.canvas.color_changed.connect(self.paint_color_button.set_color)
        self.canvas.zoom_changed.connect(lambda z: self.zoom_label.setText(f" {z:.0%} "))

    def resize_brush(self, factor: float) -> None:
        size = self.size_slider.pixels()
        new = round(size * factor)
        self.size_slider.set_pixels(new if new != size else size + (1 if factor > 1 else -1))

    def set_erase(self, erase: bool) -> None:
        self.set_tool("eraser" if erase else "brush")

    def set_tool(self, tool: str) -> None:
        self.tool_actions[tool].setChecked(True)
        self.canvas.set_tool(tool)
        self._brush_from_controls()

    def _brush_from_controls(self) -> None:
        size = self.size_slider.pixels()
        self.size_value.setText(f"{size} px ")
        erase = self.eraser_action.isChecked()
        self.canvas.paint_opacity = self.paint_opacity_slider.value() / 100
        self.canvas.set_brush(BrushSettings(size, self.hardness_slider.value() / 100, erase))

    # --- colours -------------------------------------------------------------------------------

    def set_paint_color(self, color: QColor) -> None:
        """The brush's colour, shown on the colour button and first in the recent colours."""
        if not color.isValid():
            return
        self.canvas.set_color(color)
        self.paint_color_button.set_color(color)
        names = [c.name() for c in self.recent_colors]
        if color.name() in names:
            self.recent_colors.pop(names.index(color.name()))
        self.recent_colors.insert(0, QColor(color))
        del self.recent_colors[RECENT_COLORS:]
        for button, action, recent in zip(
            self.recent_buttons, self._recent_actions, self.recent_colors, strict=False
        ):
            button.set_color(recent)
            action.setVisible(True)

    def _choose_paint_color(self) -> None:
        color = QColorDialog.getColor(self.canvas.color, self, "Paint colour")
        if color.isValid():
            self.set_paint_color(color)

    def _use_recent(self, button: ColorSwatch) -> None:
        index = self.recent_buttons.index(button)
        if index < len(self.recent_colors):
            self.set_paint_color(self.recent_colors[index])

    # --- the mask overlay ----------------------------------------------------------------------

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
    slider.setMinimumWidth(60)
    slider.setMaximumWidth(110)
    return slider
