"""The panel's hires-fix widgets (text to image): scale, strength, steps and upscaler.

Their bounds, defaults and tooltips come from the field table (pipeline/fields.py); the panel
places them and binds them like every other field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QFormLayout, QSpinBox

from pipeline import fields

from .field_widgets import number_box

Binding = tuple[Callable[[], Any], Callable[[Any], None]]


class HiresWidgets:
    def __init__(self) -> None:
        from pipeline.upscale import BUNDLED_UPSCALER

        self.scale = number_box("hires_scale")
        self.strength = number_box("hires_strength", low=0.01)  # 0 would change nothing
        self.steps = number_box("hires_steps")
        self.steps.setSpecialValueText("as Steps")  # 0: the first pass's step count
        self.scale.setSpecialValueText("off")
        # Built-in upscalers first; any other text names an upscale model (file or name).
        self.upscaler = QComboBox()
        self.upscaler.setEditable(True)
        self.upscaler.addItems([fields.LANCZOS, fields.LATENT, BUNDLED_UPSCALER])
        self.upscaler.setCurrentText(fields.default("hires_upscaler"))
        self.upscaler.setToolTip(fields.BY_NAME["hires_upscaler"].tooltip)
        self.scale.valueChanged.connect(self._enable)
        self._enable()

    def bindings(self) -> dict[str, Binding]:
        def box(widget: QSpinBox | QDoubleSpinBox) -> Binding:
            return widget.value, widget.setValue

        return {
            "hires_scale": box(self.scale),
            "hires_strength": box(self.strength),
            "hires_steps": box(self.steps),
            "hires_upscaler": (lambda: self.upscaler.currentText().strip(),
                               self.upscaler.setCurrentText),
        }  # fmt: skip

    def add_rows(self, form: QFormLayout) -> None:
        form.addRow("Hires fix", self.scale)
        form.addRow("Hires strength", self.strength)
        form.addRow("Hires steps", self.steps)
        form.addRow("Hires upscaler", self.upscaler)

    def show_rows(self, form: QFormLayout, visible: bool) -> None:
        for widget in (self.scale, self.strength, self.steps, self.upscaler):
            form.setRowVisible(widget, visible)

    def _enable(self) -> None:
        """The pass's options mean nothing while it is off (scale 0)."""
        on = self.scale.value() > 0
        for widget in (self.strength, self.steps, self.upscaler):
            widget.setEnabled(on)
