"""Widgets made from the field table (pipeline/fields.py): bounds, default, step, suffix, tooltip.

A spin box can then never hold a value the request would refuse, and a field's limits are
written once.
"""

from __future__ import annotations

from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox, QSpinBox

from pipeline import fields


def number_box(name: str, low: float | None = None) -> QSpinBox | QDoubleSpinBox:
    """A spin box for an int or float field; `low` narrows the table's lower bound."""
    spec = fields.BY_NAME[name]
    box: QSpinBox | QDoubleSpinBox = QSpinBox() if spec.kind is int else QDoubleSpinBox()
    bottom = spec.low if low is None else low
    box.setRange(bottom, spec.high)  # type: ignore[arg-type]
    box.setSingleStep(spec.step)  # type: ignore[arg-type]
    default = spec.default if spec.default is not None else fields.FALLBACKS.get(name, bottom)
    box.setValue(default)
    box.setSuffix(spec.suffix)
    box.setToolTip(spec.tooltip)
    return box


def check_box(name: str) -> QCheckBox:
    """A check box labelled with the field's label (bool fields, or a two-choice enum)."""
    spec = fields.BY_NAME[name]
    box = QCheckBox(spec.label)
    box.setToolTip(spec.tooltip)
    return box
