"""The generation parameters panel: prompt, negative prompt, sampler, steps, CFG, seed, size."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from enum import Enum
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QComboBox,
    QLabel,
    QPlainTextEdit,
    QWidget,
)

from pipeline import SAMPLERS, GenerationRequest, InpaintArea, Mode, RequestError, fields
from pipeline.canvas_size import generation_size, size_note
from pipeline.outpaint import OutpaintJob, outpaint_request

from .field_table import Binding, FieldTable
from .field_widgets import check_box, number_box
from .hires_widgets import HiresWidgets
from .mode_options import MODE_NAMES, CanvasMode, ModeOptions, spin_box
from .panel_layout import lay_out
from .panel_widgets import NativeSizeWarning
from .seed_field import SeedField
from .settings import PANEL_FIELDS, Parameters

__all__ = ["CanvasMode", "ParametersPanel", "PromptEdit", "generation_size"]


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
        # The mode's own options, shown as the panel's own fields (tests and callers use them).
        self.mode_options = ModeOptions()
        self.strength = self.mode_options.strength
        self.only_masked = self.mode_options.only_masked
        self.sides = self.mode_options.sides
        self.sides_row = self.mode_options.sides_row
        self.mask_blur = number_box("mask_blur")
        self.mask_grow = number_box("mask_grow")
        self.padding = number_box("inpaint_padding")
        self.color_correction = check_box("color_correction")
        self.color_correction.setChecked(fields.default("color_correction"))
        self.native_size = 0  # of the loaded model; 0: not known yet
        self.native_warning = NativeSizeWarning()
        self.native_warning.resize_requested.connect(self.resize_canvas_requested)
        self.native_warning.only_masked_requested.connect(self._use_only_masked)
        for box in self.sides:
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
        self.steps = number_box("steps")
        self.guidance = number_box("guidance")
        self.seed_field = SeedField()
        self.seed = self.seed_field.seed
        self.random_seed = self.seed_field.random_seed
        self.batch_count = spin_box(1, 100, 1)
        self.batch_count.setToolTip(
            "How many jobs Generate adds to the queue; they run one after another, each with "
            "the next seeds"
        )
        self.batch_size = number_box("batch_size")
        self.batch_size.setToolTip(
            "Images each job makes at once: faster per image, but needs more memory"
        )
        self.width_box = number_box("width")
        self.height_box = number_box("height")
        self.hires = HiresWidgets()
        self._quiet = False  # set while the panel itself changes widgets (not a user's choice)
        # In canvas modes the boxes show the canvas's size; this keeps the text-to-image size.
        self._txt2img_size = (fields.FALLBACK_SIZE, fields.FALLBACK_SIZE)
        for box in (self.width_box, self.height_box):
            box.valueChanged.connect(self._remember_txt2img_size)
        self.sampler.activated.connect(lambda _: self.table.follows.discard("sampler"))
        self.guidance.valueChanged.connect(lambda _: self._chosen("guidance"))
        self.table = FieldTable(self._bind())
        self._show_following()
        self.more, self.scroll, self._more_form = lay_out(self)
        self._on_mode()

    def add_section(self, widget: QWidget) -> None:
        """A section below the fields, scrolled with them (e.g. Control): outside the scroll
        area, each control unit took its height from the prompt and fields on a 800 px screen."""
        column = self._scrolled_column
        column.insertWidget(column.count() - 1, widget)
        self.scroll.setMinimumWidth(self.scroll.widget().minimumSizeHint().width())

    @property
    def current_mode(self) -> CanvasMode:
        return CanvasMode(self.mode.currentData())

    def set_mode(self, mode: CanvasMode | Mode | str) -> None:
        self.mode.setCurrentIndex(self.mode.findData(CanvasMode(mode).value))

    def _bind(self) -> dict[str, Binding]:
        """(getter, setter) of the widget that holds each table field the panel shows."""

        def box(widget: Any) -> Binding:
            return widget.value, widget.setValue

        def area(value: Any) -> None:
            self.only_masked.setChecked(InpaintArea(value) is InpaintArea.ONLY_MASKED)

        return {
            "prompt": (self.prompt.toPlainText, self.prompt.setPlainText),
            "negative_prompt": (self.negative.toPlainText, self.negative.setPlainText),
            "sampler": (self.sampler.currentData, self._set_sampler),
            "steps": box(self.steps),
            "guidance": box(self.guidance),
            "seed": (self.seed_field.typed, self.seed_field.show),
            "width": (lambda: self._txt2img_size[0], lambda v: self._set_txt2img(v, None)),
            "height": (lambda: self._txt2img_size[1], lambda v: self._set_txt2img(None, v)),
            "batch_size": box(self.batch_size),
            "strength": (
                self.strength.value,
                lambda v: self.mode_options.set_strength(self.current_mode, v),
            ),
            "mask_blur": box(self.mask_blur),
            "mask_grow": box(self.mask_grow),
            "inpaint_area": (self._inpaint_area, area),
            "inpaint_padding": box(self.padding),
            "color_correction": (self.color_correction.isChecked, self.color_correction.setChecked),
            **self.hires.bindings(),
        }

    def _on_mode(self) -> None:
        mode = self.current_mode
        self.mode_options.show_mode(mode)
        masked = mode in (CanvasMode.INPAINT, CanvasMode.OUTPAINT)
        for widget in (self.mask_blur, self.mask_grow, self.padding, self.color_correction):
            self._more_form.setRowVisible(widget, masked)
        self.hires.show_rows(self._basics_form, mode is CanvasMode.TXT2IMG)
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

    def _remember_txt2img_size(self) -> None:
        if not self._sizes_from_canvas() and not self._quiet:
            self._txt2img_size = (self.width_box.value(), self.height_box.value())
            self.table.follows -= {"width", "height"}  # the user chose a size

    def _chosen(self, name: str) -> None:
        if not self._quiet:
            self.table.follows.discard(name)

    def _show_size(self, width: int, height: int) -> None:
        with self._quietly():
            self.width_box.setValue(width)
            self.height_box.setValue(height)

    @contextlib.contextmanager
    def _quietly(self) -> Iterator[None]:
        quiet, self._quiet = self._quiet, True
        try:
            yield
        finally:
            self._quiet = quiet

    def _set_sampler(self, sampler_id: str) -> None:
        index = self.sampler.findData(sampler_id)
        if index >= 0:
            self.sampler.setCurrentIndex(index)

    def _inpaint_area(self) -> InpaintArea:
        return InpaintArea.ONLY_MASKED if self.only_masked.isChecked() else InpaintArea.WHOLE

    def _set_txt2img(self, width: int | None, height: int | None) -> None:
        old_width, old_height = self._txt2img_size
        self.set_size(
            old_width if width is None else width, old_height if height is None else height
        )

    # --- the model's own values ----------------------------------------------------------------

    def follow_model(self, defaults: dict[str, Any]) -> bool:
        """Takes a loaded model's own size / sampler / CFG (table names; unknown keys and bad
        values are ignored) for every one the user has not chosen. True if the text-to-image
        size changed."""
        size = self._txt2img_size
        self.table.take_model(defaults)
        self._show_following()
        return self._txt2img_size != size

    def _show_following(self) -> None:
        with self._quietly():
            if "sampler" in self.table.follows:
                self._set_sampler(self.table.model_value("sampler"))
            if "guidance" in self.table.follows:
                self.guidance.setValue(self.table.model_value("guidance"))
            if {"width", "height"} & self.table.follows:
                model = self.table.model_value
                self._txt2img_size = (model("width"), model("height"))
                if not self._sizes_from_canvas():
                    self._show_size(*self._txt2img_size)

    # --- parameters in and out -----------------------------------------------------------------

    def shown_values(self) -> dict[str, Any]:
        """Every table field the panel holds, as its widgets show it (seed even under Random;
        the size set for text to image)."""
        return self.table.shown()

    def to_parameters(self) -> Parameters:
        values = {k: _plain(v) for k, v in self.shown_values().items() if k in PANEL_FIELDS}
        for name in self.table.follows:
            values[name] = None  # "the model's own": follows the next model too
        return Parameters(
            **values,
            mode=self.current_mode.value,
            random_seed=self.random_seed.isChecked(),
            outpaint_sides=list(self.outpaint_sides()),
        )

    def restore(self, params: Parameters) -> None:
        """Shows saved parameters (already checked by the field table, see settings.py)."""
        mode_index = self.mode.findData(params.mode)
        if mode_index >= 0:
            self.mode.setCurrentIndex(mode_index)
        values = {name: getattr(params, name) for name in PANEL_FIELDS}
        self.table.follows = {name for name in fields.MODEL_DEFAULTED if values[name] is None}
        self._apply({k: v for k, v in values.items() if k not in self.table.follows})
        self.random_seed.setChecked(params.random_seed)
        if len(params.outpaint_sides) == 4:
            for box, value in zip(self.sides, params.outpaint_sides, strict=True):
                box.setValue(int(value))
        self._show_following()

    def use_values(self, values: dict[str, Any]) -> str:
        """Shows values read from an image (checked by `fields.clean`), all at once; Random
        stays as the user set it. Returns what to tell the user about the seed."""
        if "mode" in values:
            self.set_mode(values["mode"])
        self.set_values({k: v for k, v in values.items() if k in self.table.bindings})
        if "seed" not in values:
            return ""
        if self.random_seed.isChecked():
            return f"seed {values['seed']} restored (untick Random to use it)"
        return f"seed {values['seed']} restored"

    def set_values(self, values: dict[str, Any]) -> None:
        """Shows valid table values (see `fields.clean`) as the user's own choices."""
        self._apply(values)
        self.table.follows -= values.keys()

    def _apply(self, values: dict[str, Any]) -> None:
        if "width" in values or "height" in values:
            width, height = self._txt2img_size
            self.set_size(values.get("width", width), values.get("height", height))
        for name, value in values.items():
            if name not in ("width", "height"):
                self.table.show(name, value)

    def show_used_seed(self, seed: int) -> None:
        """Shows the seed a job used (random or not), so the user can pin and re-use it."""
        self.seed.setText(str(seed))

    @property
    def txt2img_size(self) -> tuple[int, int]:
        """The size set for text to image (the boxes show the canvas's in other modes)."""
        return self._txt2img_size

    def set_size(self, width: int, height: int) -> None:
        """Sets the text-to-image size as the user's choice (shown at once in that mode)."""
        self._txt2img_size = (width, height)
        self.table.follows -= {"width", "height"}
        if not self._sizes_from_canvas():
            self._show_size(width, height)

    def outpaint_sides(self) -> tuple[int, int, int, int]:
        return self.mode_options.outpaint_sides()

    def _fields(self, model: str | None) -> dict[str, Any]:
        """The request fields every mode shares; raises RequestError for a missing seed."""
        seed = self.seed_field.for_request()
        masked = self.current_mode in (CanvasMode.INPAINT, CanvasMode.OUTPAINT)
        values = {**self.table.request_fields(masked), "seed": seed, "model": model}
        if self.current_mode is CanvasMode.TXT2IMG:
            values.update({name: self.table.request_value(name) for name in fields.HIRES_NAMES})
        return values

    def _txt2img_request_size(self) -> dict[str, Any]:
        value = self.table.request_value
        return {"width": value("width"), "height": value("height")}

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
        if self._sizes_from_canvas():
            size = {"width": self.width_box.value(), "height": self.height_box.value()}
        else:
            size = self._txt2img_request_size()
        return GenerationRequest(
            **self._fields(model),
            **size,
            mode=mode,
            init_image=init_image if mode is not Mode.TXT2IMG else None,
            mask=mask if mode is Mode.INPAINT else None,
        )

    def outpaint(self, model: str | None, image: np.ndarray) -> OutpaintJob:
        """The inpaint request that extends `image` by the sides set in the panel."""
        fields_ = self._fields(model)
        if self.only_masked.isChecked():
            fields_.update(self._txt2img_request_size())
        return outpaint_request(image, self.outpaint_sides(), **fields_)

    def show_canvas_size(self, width: int, height: int) -> None:
        """Canvas modes generate at the canvas size, snapped to multiples of 8 when it is not."""
        self._canvas_size = (width, height)
        self.mode_options.follow_canvas(width)
        self._refresh_size()


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value
