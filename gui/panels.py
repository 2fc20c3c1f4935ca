"""The generation parameters panel: prompt, negative prompt, sampler, steps, CFG, seed, size."""

from __future__ import annotations

from enum import Enum
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent, QRegularExpressionValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from pipeline import DEFAULT_SAMPLER, SAMPLERS, GenerationRequest, Mode, RequestError
from pipeline.canvas_size import generation_size, size_note
from pipeline.outpaint import OutpaintJob, outpaint_request
from pipeline.request import MAX_BATCH, MAX_GUIDANCE, MAX_SIZE, MAX_STEPS, MIN_SIZE, InpaintArea

from .panel_widgets import CollapsibleSection, NativeSizeWarning
from .settings import Parameters

DEFAULT_SIZE = 512  # until a loaded model says its own (MainWindow._follow_native_size)
LEGACY_SIDES = (0, 0, 128, 0)  # the old fixed outpaint default: saved, it was never a choice


class PromptEdit(QPlainTextEdit):
    """A multi-line prompt box; Ctrl+Enter submits instead of inserting a line break."""

    submitted = Signal()

    def __init__(self, placeholder: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setPlaceholderText(placeholder)
        self.setTabChangesFocus(True)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        enter = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        if enter and event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.submitted.emit()
            return
        super().keyPressEvent(event)


class ParametersPanel(QWidget):
    """Holds the user's parameters and turns them into a validated `GenerationRequest`."""

    mode_changed = Signal(object)  # CanvasMode
    resize_canvas_requested = Signal(int, int)  # the native-size warning's one-click fix

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.mode = QComboBox()
        self.mode.setObjectName("mode")
        for mode, text in MODE_NAMES.items():
            self.mode.addItem(text, mode.value)  # Qt would turn the str-Enum into a plain str
        self.mode.currentIndexChanged.connect(self._on_mode)
        self.strength = QDoubleSpinBox()
        self.strength.setRange(0.01, 1.0)
        self.strength.setSingleStep(0.05)
        self.strength.setValue(0.75)
        self.strength.setToolTip("How much of the canvas may change: 0 keeps it, 1 repaints it")
        self.mask_blur = _spin(0, 256, 4, suffix=" px")
        self.mask_blur.setToolTip("Soft band outside the mask through which the result blends in")
        self.mask_grow = _spin(-256, 256, 0, suffix=" px")
        self.mask_grow.setToolTip("Grow the mask before generating (negative values shrink it)")
        self.only_masked = QCheckBox("Only the masked area, generated at Size")
        self.only_masked.setToolTip(
            "Crop around the mask and generate it at full resolution, then paste it back"
        )
        self.padding = _spin(0, 512, 32, suffix=" px")
        self.padding.setToolTip("Context kept around the mask when only the masked area is made")
        self.color_correction = QCheckBox("Match colours at the mask border")
        self.color_correction.setChecked(True)
        self.sides = [_spin(0, 2048, 0, step=8, suffix=" px") for _ in range(4)]
        # Until the user sets the sides they follow the canvas (half its width on the right):
        # a fixed 128 px tripled a 64-px image.
        self._auto_sides = LEGACY_SIDES
        self.sides[2].setValue(128)
        self.native_size = 0  # of the loaded model; 0: not known yet
        self.native_warning = NativeSizeWarning()
        self.native_warning.resize_requested.connect(self.resize_canvas_requested)
        self.native_warning.only_masked_requested.connect(self._use_only_masked)
        for box, side in zip(self.sides, ("left", "top", "right", "bottom"), strict=True):
            box.setToolTip(f"Pixels to add on the {side}")
            box.valueChanged.connect(self._refresh_size)
        self.only_masked.toggled.connect(self._refresh_size)
        self._canvas_size = (512, 512)
        self.size_note = QLabel()
        self.size_note.setWordWrap(True)
        self.size_note.setObjectName("sizeNote")
        self.prompt = PromptEdit("Describe the image, e.g. a large red circle, blue background")
        self.prompt.setObjectName("prompt")
        self.prompt.setMaximumHeight(110)
        self.negative = PromptEdit("What to avoid (optional)")
        self.negative.setObjectName("negative")
        self.negative.setMaximumHeight(56)
        self.sampler = QComboBox()
        for sampler in SAMPLERS:
            self.sampler.addItem(sampler.name, sampler.id)
        self.sampler.setCurrentIndex(self.sampler.findData(DEFAULT_SAMPLER))
        self.steps = _spin(1, MAX_STEPS, 20)
        self.guidance = QDoubleSpinBox()
        self.guidance.setRange(0.0, MAX_GUIDANCE)
        self.guidance.setSingleStep(0.5)
        self.guidance.setValue(7.0)
        self.guidance.setToolTip("Classifier-free guidance: how closely to follow the prompt")
        self.seed = QLineEdit()
        self.seed.setValidator(QRegularExpressionValidator(r"\d{0,10}"))
        self.seed.setPlaceholderText("random")
        self.random_seed = QCheckBox("Random")
        self.random_seed.setChecked(True)
        self.random_seed.toggled.connect(self._sync_seed)
        self.batch_count = _spin(1, 100, 1)
        self.batch_count.setToolTip(
            "How many jobs Generate adds to the queue; they run one after another, each with "
            "the next seeds"
        )
        self.batch_size = _spin(1, MAX_BATCH, 1)
        self.batch_size.setToolTip(
            "Images each job makes at once: faster per image, but needs more memory"
        )
        self.width_box = _spin(MIN_SIZE, MAX_SIZE, DEFAULT_SIZE, step=8, suffix=" px")
        self.height_box = _spin(MIN_SIZE, MAX_SIZE, DEFAULT_SIZE, step=8, suffix=" px")
        # In canvas modes the boxes show the canvas's size; this keeps the user's txt2img size.
        self._txt2img_size = (DEFAULT_SIZE, DEFAULT_SIZE)
        for box in (self.width_box, self.height_box):
            box.valueChanged.connect(self._remember_txt2img_size)
        self._layout()
        self._sync_seed()
        self._on_mode()

    def _layout(self) -> None:
        """Mode and the mode's own options stay at the top, never scrolled away; the rest
        scrolls vertically only, and rarely used settings are collapsed under "More"."""
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        top = QFormLayout()
        top.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        top.addRow("Mode", self.mode)
        outer.addLayout(top)
        self.mode_options = self._mode_options_box()
        outer.addWidget(self.mode_options)
        outer.addWidget(self.native_warning)

        content = QWidget()
        column = QVBoxLayout(content)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(QLabel("Prompt"))
        column.addWidget(self.prompt)
        column.addWidget(QLabel("Negative prompt"))
        column.addWidget(self.negative)
        basics = _form()
        seed_row = QHBoxLayout()
        seed_row.addWidget(self.seed, 1)
        seed_row.addWidget(self.random_seed)
        basics.addRow("Steps", self.steps)
        basics.addRow("Seed", seed_row)
        size_row = QHBoxLayout()
        size_row.addWidget(self.width_box, 1)
        size_row.addWidget(QLabel("×"))
        size_row.addWidget(self.height_box, 1)
        basics.addRow("Size", size_row)
        basics.addRow(self.size_note)
        basics.addRow("Jobs to queue", self.batch_count)
        basics.addRow("Images per job", self.batch_size)
        column.addLayout(basics)
        more_body = QWidget()
        more = _form(more_body)
        more.setContentsMargins(0, 0, 0, 0)
        more.addRow("Sampler", self.sampler)
        more.addRow("CFG scale", self.guidance)
        more.addRow("Mask blur", self.mask_blur)
        more.addRow("Grow mask", self.mask_grow)
        more.addRow("Padding", self.padding)
        more.addRow(self.color_correction)
        self.more = CollapsibleSection("More settings", more_body)
        column.addWidget(self.more)
        column.addStretch(1)  # spare height goes below the fields, not between them
        self.scroll = QScrollArea()
        self.scroll.setObjectName("panelScroll")
        self.scroll.setWidget(content)
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # The panel is as wide as its widest row: nothing is ever cut off at the side.
        self.scroll.setMinimumWidth(content.minimumSizeHint().width())
        outer.addWidget(self.scroll, 1)
        self._more_form = more

    def _mode_options_box(self) -> QGroupBox:
        box = QGroupBox()
        box.setObjectName("modeOptions")
        form = _form(box)
        form.addRow("Strength", self.strength)
        sides = QGridLayout()
        sides.setContentsMargins(0, 0, 0, 0)
        for index, (name, spin) in enumerate(zip(("Left", "Top", "Right", "Bottom"),
                                                 self.sides, strict=True)):  # fmt: skip
            row, column = divmod(index, 2)
            sides.addWidget(QLabel(name), row, 2 * column)
            sides.addWidget(spin, row, 2 * column + 1)
        sides.setColumnStretch(1, 1)
        sides.setColumnStretch(3, 1)
        self.sides_row = QWidget()
        self.sides_row.setLayout(sides)
        form.addRow("Extend", self.sides_row)
        form.addRow(self.only_masked)
        self._mode_form = form
        return box

    @property
    def current_mode(self) -> CanvasMode:
        return CanvasMode(self.mode.currentData())

    def set_mode(self, mode: CanvasMode | Mode | str) -> None:
        self.mode.setCurrentIndex(self.mode.findData(CanvasMode(mode).value))

    def _on_mode(self) -> None:
        mode = self.current_mode
        masked = mode in (CanvasMode.INPAINT, CanvasMode.OUTPAINT)
        self.mode_options.setVisible(mode is not CanvasMode.TXT2IMG)
        self.mode_options.setTitle(MODE_NAMES[mode])
        self._mode_form.setRowVisible(self.sides_row, mode is CanvasMode.OUTPAINT)
        self._mode_form.setRowVisible(self.only_masked, masked)
        for widget in (self.mask_blur, self.mask_grow, self.padding, self.color_correction):
            self._more_form.setRowVisible(widget, masked)
        self._refresh_size()
        self.mode_changed.emit(mode)

    def _sizes_from_canvas(self) -> bool:
        """Canvas modes generate at the canvas's size, except "only masked", which generates
        the crop at the size the user sets (as in A1111)."""
        mode = self.current_mode
        if mode is CanvasMode.TXT2IMG:
            return False
        return not (
            mode in (CanvasMode.INPAINT, CanvasMode.OUTPAINT) and self.only_masked.isChecked()
        )

    def _refresh_size(self) -> None:
        from_canvas = self._sizes_from_canvas()
        for box in (self.width_box, self.height_box):
            box.setEnabled(not from_canvas)
        width, height = self._canvas_size
        if self.current_mode is CanvasMode.OUTPAINT:
            left, top, right, bottom = self.outpaint_sides()
            width, height = width + left + right, height + top + bottom
        gen_width, gen_height = generation_size(width, height)
        if from_canvas:
            self._show_size(gen_width, gen_height)
        else:
            self._show_size(*self._txt2img_size)
        note = from_canvas and size_note((width, height), (gen_width, gen_height), "The canvas")
        self.size_note.setText(note or "")
        self.size_note.setVisible(bool(note))
        masked = self.current_mode in (CanvasMode.INPAINT, CanvasMode.OUTPAINT)
        size = (width, height) if from_canvas else (0, 0)
        outpaint = self.current_mode is CanvasMode.OUTPAINT
        native = self.native_size if from_canvas else 0
        self.native_warning.update_for(size, native, masked, can_resize=not outpaint)

    def _use_only_masked(self) -> None:
        """The warning's other fix: generate only around the mask, at the model's size."""
        self.only_masked.setChecked(True)
        self.set_size(self.native_size, self.native_size)

    def _follow_canvas_with_sides(self) -> None:
        """Outpaint sides the user has not chosen follow the canvas: half its width, right."""
        if self.outpaint_sides() not in (self._auto_sides, LEGACY_SIDES):
            return
        width, _ = self._canvas_size
        self._auto_sides = (0, 0, max(8, int(width / 16 + 0.5) * 8), 0)
        for box, value in zip(self.sides, self._auto_sides, strict=True):
            box.blockSignals(True)
            box.setValue(value)
            box.blockSignals(False)

    def _remember_txt2img_size(self) -> None:
        if not self._sizes_from_canvas():
            self._txt2img_size = (self.width_box.value(), self.height_box.value())

    def _show_size(self, width: int, height: int) -> None:
        self.width_box.setValue(width)
        self.height_box.setValue(height)

    def _sync_seed(self) -> None:
        self.seed.setEnabled(not self.random_seed.isChecked())

    def to_parameters(self) -> Parameters:
        seed = int(self.seed.text()) if self.seed.text() else None
        return Parameters(
            mode=self.current_mode.value,
            prompt=self.prompt.toPlainText(),
            negative_prompt=self.negative.toPlainText(),
            sampler=self.sampler.currentData(),
            steps=self.steps.value(),
            guidance=self.guidance.value(),
            seed=seed,
            random_seed=self.random_seed.isChecked(),
            width=self.width_box.value(),
            height=self.height_box.value(),
            strength=self.strength.value(),
            mask_blur=self.mask_blur.value(),
            mask_grow=self.mask_grow.value(),
            only_masked=self.only_masked.isChecked(),
            padding=self.padding.value(),
            color_correction=self.color_correction.isChecked(),
            outpaint_sides=list(self.outpaint_sides()),
        )

    def restore(self, params: Parameters) -> None:
        """Shows saved parameters; values the widgets cannot take keep the widget's default."""
        mode_index = self.mode.findData(params.mode)
        if mode_index >= 0:
            self.mode.setCurrentIndex(mode_index)
        self.prompt.setPlainText(params.prompt)
        self.negative.setPlainText(params.negative_prompt)
        sampler_index = self.sampler.findData(params.sampler)
        if sampler_index >= 0:
            self.sampler.setCurrentIndex(sampler_index)
        self.steps.setValue(params.steps)
        self.guidance.setValue(params.guidance)
        self.seed.setText("" if params.seed is None else str(params.seed))
        self.random_seed.setChecked(params.random_seed)
        self.set_size(params.width, params.height)
        self.strength.setValue(params.strength)
        self.mask_blur.setValue(params.mask_blur)
        self.mask_grow.setValue(params.mask_grow)
        self.only_masked.setChecked(params.only_masked)
        self.padding.setValue(params.padding)
        self.color_correction.setChecked(params.color_correction)
        if len(params.outpaint_sides) == 4:
            for box, value in zip(self.sides, params.outpaint_sides, strict=True):
                box.setValue(int(value))

    def show_used_seed(self, seed: int) -> None:
        """Shows the seed a job used (random or not), so the user can pin and re-use it."""
        self.seed.setText(str(seed))

    @property
    def txt2img_size(self) -> tuple[int, int]:
        """The size set for text to image (the boxes show the canvas's in other modes)."""
        return self._txt2img_size

    def set_size(self, width: int, height: int) -> None:
        """Sets the text-to-image size (shown at once when in that mode)."""
        self._txt2img_size = (width, height)
        if not self._sizes_from_canvas():
            self._show_size(width, height)

    def outpaint_sides(self) -> tuple[int, int, int, int]:
        left, top, right, bottom = (box.value() for box in self.sides)
        return left, top, right, bottom

    def _fields(self, model: str | None) -> dict[str, Any]:
        """The request fields every mode shares; raises RequestError for a missing seed."""
        seed: int | None = None
        if not self.random_seed.isChecked():
            if not self.seed.text():
                raise RequestError("Enter a seed, or tick Random.")
            seed = int(self.seed.text())
        fields: dict[str, Any] = {
            "prompt": self.prompt.toPlainText().strip(),
            "negative_prompt": self.negative.toPlainText().strip(),
            "sampler": self.sampler.currentData(),
            "steps": self.steps.value(),
            "guidance": self.guidance.value(),
            "seed": seed,
            "batch_size": self.batch_size.value(),
            "strength": self.strength.value(),
            "model": model,
        }
        if self.current_mode in (CanvasMode.INPAINT, CanvasMode.OUTPAINT):
            only = self.only_masked.isChecked()
            fields.update(
                mask_blur=self.mask_blur.value(),
                mask_grow=self.mask_grow.value(),
                inpaint_area=InpaintArea.ONLY_MASKED if only else InpaintArea.WHOLE,
                inpaint_padding=self.padding.value(),
                color_correction=self.color_correction.isChecked(),
            )
        return fields

    def request(
        self,
        model: str | None,
        init_image: np.ndarray | None = None,
        mask: np.ndarray | None = None,
    ) -> GenerationRequest:
        """Builds the request for text-to-image, image-to-image or inpaint (outpaint: see
        `outpaint`); raises RequestError naming the bad field."""
        mode = Mode(self.current_mode.value)
        if mode is Mode.INPAINT and (mask is None or not mask.any()):
            raise RequestError("Paint a mask over the area to regenerate first.")
        return GenerationRequest(
            **self._fields(model),
            mode=mode,
            width=self.width_box.value(),
            height=self.height_box.value(),
            init_image=init_image if mode is not Mode.TXT2IMG else None,
            mask=mask if mode is Mode.INPAINT else None,
        )

    def outpaint(self, model: str | None, image: np.ndarray) -> OutpaintJob:
        """The inpaint request that extends `image` by the sides set in the panel."""
        fields = self._fields(model)
        if self.only_masked.isChecked():
            fields.update(width=self.width_box.value(), height=self.height_box.value())
        return outpaint_request(image, self.outpaint_sides(), **fields)

    def show_canvas_size(self, width: int, height: int) -> None:
        """Canvas modes generate at the canvas size, snapped to multiples of 8 when it is not."""
        self._canvas_size = (width, height)
        self._follow_canvas_with_sides()
        self._refresh_size()


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


def _form(parent: QWidget | None = None) -> QFormLayout:
    form = QFormLayout(parent)
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    return form


def _spin(low: int, high: int, value: int, step: int = 1, suffix: str = "") -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setSingleStep(step)
    box.setValue(value)
    box.setSuffix(suffix)
    return box
