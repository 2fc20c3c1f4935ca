"""Where each of the parameters panel's fields sits (its behaviour lives in panels.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from .mode_options import form_layout
from .panel_widgets import CollapsibleSection

if TYPE_CHECKING:
    from .panels import ParametersPanel


def lay_out(panel: ParametersPanel) -> tuple[CollapsibleSection, QScrollArea, QFormLayout]:
    """Mode and the mode's own options stay at the top, never scrolled away; the rest
    scrolls vertically only, and rarely used settings are collapsed under "More".
    Returns the "More" section, the scroll area and the section's form (whose rows the
    panel shows per mode)."""
    outer = QVBoxLayout(panel)
    outer.setContentsMargins(0, 0, 0, 0)
    top = QFormLayout()
    top.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    top.addRow("Mode", panel.mode)
    outer.addLayout(top)
    outer.addWidget(panel.mode_options)
    outer.addWidget(panel.native_warning)

    content = QWidget()
    column = QVBoxLayout(content)
    column.setContentsMargins(0, 0, 0, 0)
    column.addWidget(QLabel("Prompt"))
    column.addWidget(panel.prompt)
    column.addWidget(QLabel("Negative prompt"))
    column.addWidget(panel.negative)
    column.addLayout(_basics(panel))
    more_body = QWidget()
    more = form_layout(more_body)
    more.setContentsMargins(0, 0, 0, 0)
    more.addRow("Sampler", panel.sampler)
    more.addRow("CFG scale", panel.guidance)
    more.addRow("Mask blur", panel.mask_blur)
    more.addRow("Grow mask", panel.mask_grow)
    more.addRow("Padding", panel.padding)
    more.addRow(panel.color_correction)
    section = CollapsibleSection("More settings", more_body)
    column.addWidget(section)
    column.addStretch(1)  # spare height goes below the fields, not between them
    panel._scrolled_column = column  # add_section puts more sections above the stretch
    scroll = QScrollArea()
    scroll.setObjectName("panelScroll")
    scroll.setWidget(content)
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    # The panel is as wide as its widest row: nothing is ever cut off at the side.
    scroll.setMinimumWidth(content.minimumSizeHint().width())
    outer.addWidget(scroll, 1)
    return section, scroll, more


def _basics(panel: ParametersPanel) -> QFormLayout:
    basics = form_layout()
    basics.addRow("Steps", panel.steps)
    basics.addRow("Seed", panel.seed_field.row())
    size_row = QHBoxLayout()
    size_row.addWidget(panel.width_box, 1)
    size_row.addWidget(QLabel("×"))
    size_row.addWidget(panel.height_box, 1)
    basics.addRow("Size", size_row)
    basics.addRow(panel.size_note)
    panel.hires.add_rows(basics)
    basics.addRow("Jobs to queue", panel.batch_count)
    basics.addRow("Images per job", panel.batch_size)
    panel._basics_form = basics  # the hires rows show in text to image only (panels._on_mode)
    return basics
