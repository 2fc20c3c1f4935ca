"""The canvas modes and the options group each shows: strength, outpaint sides, only masked."""

from __future__ import annotations

from enum import Enum

from PySide6.QtWidgets import QFormLayout, QGridLayout, QGroupBox, QLabel, QSpinBox, QWidget

from pipeline import Mode, fields

from .field_widgets import check_box, number_box

LEGACY_SIDES = (0, 0, 128, 0)  # the old fixed outpaint default: saved, it was never a choice


class CanvasMode(str, Enum):
    """What Generate does: the engine's three modes, plus outpaint (an inpaint of an extended
    canvas, prepared here)."""

    TXT2IMG = "txt2img"
    IMG2IMG = "img2img"
    INPAINT = "inpaint"
    OUTPAINT = "outpaint"


MODE_NAMES = {
    CanvasMode.TXT2IMG: "Text to image",
    CanvasMode.IMG2IMG: "Image to image",
    CanvasMode.INPAINT: "Inpaint (masked area)",
    CanvasMode.OUTPAINT: "Outpaint (extend the canvas)",
}


class ModeOptions(QGroupBox):
    """The current mode's own options: its strength, the outpaint sides and "only masked"."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modeOptions")
        self.strength = number_box("strength", low=0.01)  # 0 would change nothing
        self.only_masked = check_box("inpaint_area")
        self.sides = [spin_box(0, 2048, 0, step=8, suffix=" px") for _ in range(4)]
        # Until the user sets the sides they follow the canvas (half its width on the right):
        # a fixed 128 px tripled a 64-px image.
        self._auto_sides = LEGACY_SIDES
        self.sides[2].setValue(128)
        for box, side in zip(self.sides, ("left", "top", "right", "bottom"), strict=True):
            box.setToolTip(f"Pixels to add on the {side}")
        # Each mode keeps its own strength (inpaint's default is 1: the area is regenerated).
        self._strengths = {mode: _mode_strength(mode) for mode in CanvasMode}
        self._strength_mode = CanvasMode.TXT2IMG
        self._form = form_layout(self)
        self._form.addRow("Strength", self.strength)
        self.sides_row = self._sides_row()
        self._form.addRow("Extend", self.sides_row)
        self._form.addRow(self.only_masked)

    def _sides_row(self) -> QWidget:
        sides = QGridLayout()
        sides.setContentsMargins(0, 0, 0, 0)
        for index, (name, spin) in enumerate(zip(("Left", "Top", "Right", "Bottom"),
                                                 self.sides, strict=True)):  # fmt: skip
            row, column = divmod(index, 2)
            sides.addWidget(QLabel(name), row, 2 * column)
            sides.addWidget(spin, row, 2 * column + 1)
        sides.setColumnStretch(1, 1)
        sides.setColumnStretch(3, 1)
        row_widget = QWidget()
        row_widget.setLayout(sides)
        return row_widget

    def show_mode(self, mode: CanvasMode) -> None:
        """Swaps in the mode's strength and shows only the options the mode uses."""
        self._strengths[self._strength_mode] = self.strength.value()
        self._strength_mode = mode
        self.strength.setValue(self._strengths[mode])
        self.setVisible(mode is not CanvasMode.TXT2IMG)
        self.setTitle(MODE_NAMES[mode])
        self._form.setRowVisible(self.sides_row, mode is CanvasMode.OUTPAINT)
        self._form.setRowVisible(self.only_masked, mode in (CanvasMode.INPAINT,
                                                            CanvasMode.OUTPAINT))  # fmt: skip

    def set_strength(self, mode: CanvasMode, value: float) -> None:
        self._strengths[mode] = value
        self.strength.setValue(value)

    def outpaint_sides(self) -> tuple[int, int, int, int]:
        left, top, right, bottom = (box.value() for box in self.sides)
        return left, top, right, bottom

    def follow_canvas(self, width: int) -> None:
        """Outpaint sides the user has not chosen follow the canvas: half its width, right."""
        if self.outpaint_sides() not in (self._auto_sides, LEGACY_SIDES):
            return
        self._auto_sides = (0, 0, max(8, int(width / 16 + 0.5) * 8), 0)
        for box, value in zip(self.sides, self._auto_sides, strict=True):
            box.blockSignals(True)
            box.setValue(value)
            box.blockSignals(False)


def form_layout(parent: QWidget | None = None) -> QFormLayout:
    form = QFormLayout(parent)
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    return form


def spin_box(low: int, high: int, value: int, step: int = 1, suffix: str = "") -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setSingleStep(step)
    box.setValue(value)
    box.setSuffix(suffix)
    return box


def _mode_strength(mode: CanvasMode) -> float:
    engine_mode = Mode.INPAINT if mode is CanvasMode.OUTPAINT else Mode(mode.value)
    return fields.default("strength", engine_mode)
