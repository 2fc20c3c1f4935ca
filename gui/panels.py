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
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from pipeline import DEFAULT_SAMPLER, SAMPLERS, GenerationRequest, Mode, RequestError
from pipeline.canvas_size import generation_size, size_note
from pipeline.outpaint import OutpaintJob, outpaint_request
from pipeline.request import MAX_BATCH, MAX_GUIDANCE, MAX_SIZE, MAX_STEPS, MIN_SIZE, InpaintArea

from .settings import Parameters

DEFAULT_SIZE = 512  # until a loaded model says its own (MainWindow._follow_native_size)


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
        self.sides[2].setValue(128)
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
        self.prompt.setMaximumHeight(140)
        self.negative = PromptEdit("What to avoid (optional)")
        self.negative.setObjectName("negative")
        self.negative.setMaximumHeight(64)
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
        self.batch_count.setToolTip("How many jobs to queue, each with the next seeds")
        self.batch_size = _spin(1, MAX_BATCH, 1)
        self.batch_size.setToolTip("Images per job (made together: faster, more memory)")
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
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        form = QFormLayout()
        outer.addLayout(form)
        outer.addStretch(1)  # spare height goes below the fields, not between them
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Mode", self.mode)
        form.addRow(QLabel("Prompt"))
        form.addRow(self.prompt)
        form.addRow(QLabel("Negative prompt"))
        form.addRow(self.negative)
        form.addRow("Sampler", self.sampler)
        form.addRow("Steps", self.steps)
        form.addRow("CFG scale", self.guidance)
        seed_row = QHBoxLayout()
        seed_row.addWidget(self.seed, 1)
        seed_row.addWidget(self.random_seed)
        form.addRow("Seed", seed_row)
        size_row = QHBoxLayout()
        size_row.addWidget(self.width_box)
        size_row.addWidget(QLabel("×"))
        size_row.addWidget(self.height_box)
        form.addRow("Size", size_row)
        form.addRow(self.size_note)
        batch_row = QHBoxLayout()
        batch_row.addWidget(self.batch_count)
        batch_row.addWidget(QLabel("jobs ×"))
        batch_row.addWidget(self.batch_size)
        batch_row.addWidget(QLabel("images"))
        form.addRow("Batch", batch_row)
        form.addRow("Strength", self.strength)
        sides_row = QHBoxLayout()
        for label, box in zip(("L", "T", "R", "B"), self.sides, strict=True):
            sides_row.addWidget(QLabel(label))
            sides_row.addWidget(box)
        form.addRow("Extend", sides_row)
        form.addRow("Mask blur", self.mask_blur)
        form.addRow("Grow mask", self.mask_grow)
        form.addRow(self.only_masked)
        form.addRow("Padding", self.padding)
        form.addRow(self.color_correction)
        self._form = form
        self._rows = {"sides": sides_row}

    @property
    def current_mode(self) -> CanvasMode:
        return CanvasMode(self.mode.currentData())

    def set_mode(self, mode: CanvasMode | Mode | str) -> None:
        self.mode.setCurrentIndex(self.mode.findData(CanvasMode(mode).value))

    def _on_mode(self) -> None:
        mode = self.current_mode
        masked = mode in (CanvasMode.INPAINT, CanvasMode.OUTPAINT)
        self._form.setRowVisible(self.strength, mode is not CanvasMode.TXT2IMG)
        self._form.setRowVisible(self._rows["sides"], mode is CanvasMode.OUTPAINT)
        for widget in (self.mask_blur, self.mask_grow, self.only_masked, self.padding,
                       self.color_correction):  # fmt: skip
            self._form.setRowVisible(widget, masked)
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


def _spin(low: int, high: int, value: int, step: int = 1, suffix: str = "") -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setSingleStep(step)
    box.setValue(value)
    box.setSuffix(suffix)
    return box
