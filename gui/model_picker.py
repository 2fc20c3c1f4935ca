"""The model picker: the bundled model plus the user's folders, single files and Hub ids.

Sources are checked with the engine's own parser before they are listed, so an entry that
cannot be a model is refused with the same message the CLI would give.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QMenu,
    QPushButton,
    QWidget,
)

from pipeline import BrushworkError, ModelSource, SourceKind, parse_model_source

BUNDLED = ""  # item data of the bundled model (Qt item data cannot hold None reliably)
KIND_LABEL = {SourceKind.FOLDER: "folder", SourceKind.SINGLE_FILE: "file", SourceKind.HUB: "Hub"}


class ModelPicker(QWidget):
    model_selected = Signal(object)  # str source, or None for the bundled model
    error = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.combo = QComboBox()
        self.combo.setObjectName("modelPicker")
        self.combo.setToolTip("The model that generates (drop a model folder or file here too)")
        self.combo.addItem("Bundled model (brushwork-shapes)", BUNDLED)
        # A push button with a menu reserves room for its arrow (a tool button drew the arrow
        # over "Add…" in the Fusion style).
        add = QPushButton("Add…")
        add.setObjectName("addModel")
        add.setToolTip("Add a model: a folder, a .safetensors file or a Hugging Face Hub id")
        menu = QMenu(add)
        menu.addAction("Model folder…", self._add_folder)
        menu.addAction("Single .safetensors file…", self._add_file)
        menu.addAction("Hugging Face Hub id…", self._add_hub_id)
        add.setMenu(menu)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.combo, 1)
        row.addWidget(add)
        self.add_button = add
        self.combo.currentIndexChanged.connect(lambda _: self.model_selected.emit(self.current()))
        self.allow_pickle = False  # Settings → pickle checkpoints; the engine reads them safely

    def current(self) -> str | None:
        return self.combo.currentData() or None

    def sources(self) -> list[str]:
        return [self.combo.itemData(i) for i in range(1, self.combo.count())]

    def add_source(self, text: str, select: bool = True) -> bool:
        """Checks and lists a source (no duplicates); reports the reason when it is refused."""
        try:
            source = parse_model_source(text.strip(), allow_pickle=self.allow_pickle)
        except BrushworkError as exc:
            self.error.emit(str(exc))
            return False
        location = source.location
        index = self.combo.findData(location)
        if index < 0:
            self.combo.addItem(_label(source), location)
            self.combo.setItemData(self.combo.count() - 1, location, 3)  # tooltip role
            index = self.combo.count() - 1
        if select:
            self.combo.setCurrentIndex(index)
        return True

    def restore(self, sources: list[str], selected: str | None) -> None:
        """Lists saved sources without re-checking them: a missing folder is reported on load."""
        self.combo.blockSignals(True)
        for location in sources:
            if self.combo.findData(location) < 0:
                source = _quiet_parse(location)
                self.combo.addItem(_label(source) if source else location, location)
        index = self.combo.findData(selected or BUNDLED)
        self.combo.setCurrentIndex(max(index, 0))
        self.combo.blockSignals(False)

    def _add_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a diffusers model folder")
        if folder:
            self.add_source(folder)

    def _add_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Add a checkpoint", "", "Safetensors checkpoints (*.safetensors)"
        )
        if path:
            self.add_source(path)

    def _add_hub_id(self) -> None:
        text, ok = QInputDialog.getText(
            self, "Add a Hub model", "Hugging Face Hub id (e.g. stabilityai/sd-turbo):"
        )
        if ok and text.strip():
            self.add_source(text)


def _label(source: ModelSource) -> str:
    return f"{source.name} ({KIND_LABEL[source.kind]})"


def _quiet_parse(location: str) -> ModelSource | None:
    try:
        return parse_model_source(location, allow_pickle=True)  # only for the label
    except BrushworkError:
        return None
