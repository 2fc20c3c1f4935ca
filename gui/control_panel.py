"""The side panel's Control section: ControlNet units that steer where and what shape.

Each unit row holds: on/off, the control type (preprocessor), the ControlNet model, where the
control image comes from (the current canvas, a file, or a control layer the user paints on:
which one is picked in the row's layer list, kept up to date by `bind_document`), strength (0-2)
and start/end (fractions of the steps). `units()` turns
the rows that are on into the request's ControlUnits; anything missing is a RequestError whose
message the window shows in its error line. Control types whose preprocessor cannot run here
(depth/pose without controlnet-aux or its weights) are left out of the list, with the reason
in a note under the section.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from pipeline.control import MAX_CONTROLS, MODULES, ControlUnit, check_controls
from pipeline.errors import BrushworkError, RequestError

from .control_layers import control_image, control_layers
from .document import Document
from .layers import Layer
from .session_extras import CANVAS, FILE, LAYER, ControlUnitState

THUMB = 40
TYPE_TIPS = {
    "none": "the image already is a control image (e.g. white strokes on black)",
    "scribble": "strokes painted on a plain background become white lines on black",
    "canny": "sharp edges of the image (OpenCV Canny)",
    "softedge": "soft, thick edges of the image",
    "depth": "a depth map (controlnet-aux)",
    "pose": "a human pose skeleton (controlnet-aux)",
}


def default_controlnet() -> str:
    """The shipped scribble ControlNet for the bundled model, when it is there."""
    from pipeline.models import resources_dir

    folder = resources_dir() / "controlnets" / "brushwork-shapes-scribble"
    return str(folder) if (folder / "config.json").is_file() else ""


class ControlUnitRow(QFrame):
    """One unit's widgets. `image_for(canvas)` is its control image (or a RequestError)."""

    remove_requested = Signal(object)

    def __init__(self, index: int, modules: tuple[str, ...], parent: QWidget | None = None):
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.file: Path | None = None
        self.layers: list[Layer] = []  # the document's control layers (show_layers)
        self.chosen: Layer | None = None  # the control layer this unit reads
        self.chosen_name = ""  # its name, kept when it is deleted (to say so, and for undo)
        self.enabled = QCheckBox(f"Unit {index}")
        self.enabled.setChecked(True)
        self.enabled.setToolTip("On: this unit steers the next generations")
        self.kind = QComboBox()
        for module in modules:
            self.kind.addItem(module, module)
            self.kind.setItemData(
                self.kind.count() - 1, TYPE_TIPS[module], Qt.ItemDataRole.ToolTipRole
            )
        self.kind.setCurrentIndex(max(0, self.kind.findData("scribble")))
        self.model = QLineEdit(default_controlnet())
        self.model.setPlaceholderText("ControlNet folder, .safetensors or Hub id")
        self.model.setToolTip(
            "The ControlNet: a diffusers folder, one .safetensors file, or a Hub id"
        )
        browse = QToolButton()
        browse.setText("…")
        browse.setToolTip("Choose a ControlNet file")
        browse.clicked.connect(self._pick_model)
        self.source = QComboBox()
        self.source.addItems([CANVAS, FILE, LAYER])
        self.source.setToolTip("Where the control image comes from")
        self.source.activated.connect(self._source_chosen)
        self.layer_list = QComboBox()
        self.layer_list.setToolTip(
            "The control layer this unit reads (Layers → +ctl makes one; paint a scribble on it)"
        )
        self.layer_list.activated.connect(self._layer_chosen)
        self.source.currentTextChanged.connect(
            lambda text: self.layer_list.setVisible(text == LAYER)
        )
        self.layer_list.setVisible(False)
        self.thumb = QLabel()
        self.thumb.setFixedSize(THUMB, THUMB)
        self.thumb.setToolTip("The control image chosen from a file")
        self.strength = _spin(0.0, 2.0, 1.0, "Strength: how strongly the control image steers")
        self.start = _spin(0.0, 1.0, 0.0, "Start: fraction of the steps before it acts")
        self.end = _spin(0.0, 1.0, 1.0, "End: fraction of the steps after which it stops")
        remove = QToolButton()
        remove.setText("✕")
        remove.setToolTip("Remove this unit")
        remove.clicked.connect(lambda: self.remove_requested.emit(self))
        self._layout(browse, remove)

    def _layout(self, browse: QToolButton, remove: QToolButton) -> None:
        grid = QGridLayout(self)
        grid.setContentsMargins(4, 4, 4, 4)
        grid.addWidget(self.enabled, 0, 0)
        grid.addWidget(self.kind, 0, 1)
        grid.addWidget(self.source, 0, 2)
        grid.addWidget(remove, 0, 3)
        model_row = QHBoxLayout()
        model_row.addWidget(self.model, 1)
        model_row.addWidget(browse)
        grid.addLayout(model_row, 1, 0, 1, 4)
        grid.addWidget(self.layer_list, 3, 0, 1, 4)
        numbers = QHBoxLayout()
        for label, box in (("Strength", self.strength), ("Start", self.start), ("End", self.end)):
            numbers.addWidget(QLabel(label))
            numbers.addWidget(box)
        grid.addLayout(numbers, 2, 0, 1, 3)
        grid.addWidget(self.thumb, 2, 3)

    def _pick_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "ControlNet", "", "ControlNet (*.safetensors)")
        if path:
            self.model.setText(path)

    def _source_chosen(self) -> None:
        if self.source.currentText() == FILE:
            path, _ = QFileDialog.getOpenFileName(
                self, "Control image", "", "Images (*.png *.jpg *.jpeg *.webp *.bmp)"
            )
            if path:
                self.set_file(Path(path))

    def set_file(self, path: Path) -> None:
        """Uses the image at `path` (read now, so a bad file is reported at once)."""
        from pipeline.imagefiles import read_image

        image = read_image(path, "RGB")  # ImageInputError names the file and the reason
        self.file = path
        self.source.setCurrentText(FILE)
        self._show_thumb(image)

    def _show_thumb(self, image: np.ndarray) -> None:
        data = np.ascontiguousarray(image)
        height, width = data.shape[:2]
        qimage = QImage(data.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()
        self.thumb.setPixmap(
            QPixmap.fromImage(qimage).scaled(
                THUMB,
                THUMB,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        )

    def image_for(self, canvas: np.ndarray | None) -> np.ndarray:
        source = self.source.currentText()
        if source == FILE:
            if self.file is None:
                raise RequestError(f"{self.enabled.text()}: choose the control image file.")
            from pipeline.imagefiles import read_image

            return read_image(self.file, "RGB")
        if source == LAYER:
            return self._layer_image()
        if canvas is None:
            raise RequestError(f"{self.enabled.text()}: the canvas is empty.")
        return canvas

    def show_layers(self, layers: list[Layer]) -> None:
        """The document's control layers changed: list them, keeping this unit's choice (the
        same layer, or one of its name after an undo or resize made a new one); with nothing
        chosen yet, the first one is."""
        self.layers = list(layers)
        if self.chosen is None or not any(layer is self.chosen for layer in layers):
            named = [layer for layer in layers if layer.name == self.chosen_name]
            self.chosen = named[0] if named else None
            if self.chosen is None and not self.chosen_name and layers:
                self.chosen = layers[0]
        if self.chosen is not None:
            self.chosen_name = self.chosen.name
        self.layer_list.clear()
        for layer in layers:
            self.layer_list.addItem(layer.name if layer.visible else f"{layer.name} (hidden)")
        if self.chosen is not None:
            self.layer_list.setCurrentIndex(
                next(i for i, x in enumerate(layers) if x is self.chosen)
            )
        elif self.chosen_name:
            self.layer_list.addItem(f"{self.chosen_name} (deleted)")
            self.layer_list.setCurrentIndex(self.layer_list.count() - 1)

    def _layer_chosen(self, index: int) -> None:
        if 0 <= index < len(self.layers):
            self.chosen = self.layers[index]
            self.chosen_name = self.chosen.name

    def _layer_image(self) -> np.ndarray:
        label = self.enabled.text()
        if self.chosen is None and self.chosen_name:
            raise RequestError(
                f"{label}: its control layer “{self.chosen_name}” was deleted: choose another "
                "in the unit's layer list, or undo the delete."
            )
        if self.chosen is None:
            raise RequestError(
                f"{label}: there is no control layer to read: add one in Layers (+ctl) and "
                "paint a scribble on it, or use the canvas or a file."
            )
        return control_image(self.chosen, self.kind.currentData(), label)

    def state(self) -> ControlUnitState:
        """What the session keeps of this row (session_extras.py)."""
        return ControlUnitState(
            enabled=self.enabled.isChecked(), module=self.kind.currentData(),
            model=self.model.text().strip(), source=self.source.currentText(),
            file=str(self.file) if self.file else None, layer=self.chosen_name,
            strength=self.strength.value(), start=self.start.value(), end=self.end.value(),
        )  # fmt: skip

    def apply_state(self, state: ControlUnitState) -> str | None:
        """Shows a saved row; a note if its control image file can no longer be read."""
        self.enabled.setChecked(state.enabled)
        self.kind.setCurrentIndex(max(0, self.kind.findData(state.module)))
        self.model.setText(state.model)
        for box, value in ((self.strength, state.strength), (self.start, state.start),
                           (self.end, state.end)):  # fmt: skip
            box.setValue(value)
        self.chosen, self.chosen_name = None, state.layer
        self.show_layers(self.layers)
        note = None
        if state.file:
            try:
                self.set_file(Path(state.file))
            except BrushworkError as exc:
                note = f"{self.enabled.text()}: its control image could not be read ({exc})."
        self.source.setCurrentText(state.source)
        return note

    def unit(self, canvas: np.ndarray | None) -> ControlUnit:
        if not self.model.text().strip():
            raise RequestError(f"{self.enabled.text()}: choose a ControlNet model.")
        image = self.image_for(canvas)
        return ControlUnit(
            image=np.ascontiguousarray(image[..., :3]), model=self.model.text().strip(),
            module=self.kind.currentData(), strength=self.strength.value(),
            start=self.start.value(), end=self.end.value(),
        )  # fmt: skip


def _spin(low: float, high: float, value: float, tip: str) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(low, high)
    box.setSingleStep(0.05)
    box.setDecimals(2)
    box.setValue(value)
    box.setToolTip(tip)
    return box


class ControlPanel(QGroupBox):
    """The Control section: a list of unit rows and an Add button."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Control", parent)
        from pipeline.preprocess import unavailable_reason

        self.modules = tuple(m for m in MODULES if unavailable_reason(m) is None)
        hidden = [m for m in MODULES if m not in self.modules]
        self.rows: list[ControlUnitRow] = []
        self.add_button = QPushButton("Add control")
        self.add_button.setToolTip("Steer composition with a scribble, edges or another image")
        self.add_button.clicked.connect(self.add_unit)
        self.note = QLabel()
        self.note.setWordWrap(True)
        if hidden:
            reasons = {unavailable_reason(m) for m in hidden}
            self.note.setText(f"Hidden: {', '.join(hidden)}.")
            self.note.setToolTip("\n".join(r for r in reasons if r))
        self.note.setVisible(bool(hidden))
        self._layers: Callable[[], list[Layer]] | None = None  # bind_document
        self._column = QVBoxLayout(self)
        self._column.setContentsMargins(4, 4, 4, 4)
        self._column.addWidget(self.add_button)
        self._column.addWidget(self.note)

    def add_unit(self) -> ControlUnitRow | None:
        if len(self.rows) >= MAX_CONTROLS:
            return None
        row = ControlUnitRow(len(self.rows), self.modules)
        row.remove_requested.connect(self.remove_unit)
        if self._layers is not None:
            row.show_layers(self._layers())
            if row.layers:  # the user painted a control layer: this unit is most likely for it
                row.source.setCurrentText(LAYER)
        self.rows.append(row)
        self._column.insertWidget(len(self.rows) - 1, row)
        self.add_button.setEnabled(len(self.rows) < MAX_CONTROLS)
        return row

    def remove_unit(self, row: ControlUnitRow) -> None:
        self.rows.remove(row)
        row.setParent(None)
        row.deleteLater()
        self.add_button.setEnabled(True)

    def bind_document(self, doc: Document) -> None:
        """Rows with source "Control layer" list `doc`'s control layers, kept up to date."""
        self._layers = lambda: control_layers(doc)
        doc.layers_changed.connect(self._show_layers)
        self._show_layers()

    def _show_layers(self) -> None:
        layers = self._layers() if self._layers is not None else []
        for row in self.rows:
            row.show_layers(layers)

    def state(self) -> tuple[ControlUnitState, ...]:
        return tuple(row.state() for row in self.rows)

    def restore(self, states: tuple[ControlUnitState, ...]) -> list[str]:
        """The saved units in place of the rows there are; a note per unit that lost
        something (a type not available here, an unreadable image file)."""
        for row in list(self.rows):
            self.remove_unit(row)
        notes = []
        for state in states:
            row = self.add_unit()
            if row is None:
                break
            if state.module not in self.modules:
                notes.append(f"{row.enabled.text()}: {state.module} is not available here.")
            note = row.apply_state(state)
            if note:
                notes.append(note)
        return notes

    def units(self, canvas: np.ndarray | None) -> tuple[ControlUnit, ...]:
        """The request's units from the rows that are on (RequestError: what is missing)."""
        return check_controls([row.unit(canvas) for row in self.rows if row.enabled.isChecked()])
