"""The LoRA list: LoRAs of the LoRA folder (and the shipped examples), each with an on/off box
and a weight slider; `<lora:NAME:W>` tags typed in the prompt show up in it too.

`LoraListModel` is the Qt model (one row per LoRA, by name); `LoraListView` draws a row widget
per model row and accepts dropped .safetensors files. The enabled rows become the request's
`loras` field; a prompt tag is the engine's to resolve (in `lora_dir`), so a tagged row only shows
the tag's weight and is not sent twice. Add… and drops copy the file into the LoRA folder, so
prompt tags and "Use parameters" find it by name later, as in A1111.
"""

from __future__ import annotations

import itertools
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QPersistentModelIndex,
    QSignalBlocker,
    Qt,
    Signal,
)
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from pipeline import BrushworkError
from pipeline.loras import example_lora_dir, prompt_tags, read_lora, short_hash

MAX_LISTED = 500  # files listed from a folder (a hostile or huge folder stays usable)
SLIDER_RANGE = (-100, 200)  # hundredths: weights -1.00 … 2.00 (the engine accepts ±10 by tag)

_Index = QModelIndex | QPersistentModelIndex


@dataclass
class LoraRow:
    name: str
    path: Path | None  # None: named by a prompt tag but found nowhere
    weight: float = 1.0  # the list's own weight and on/off (a prompt tag overrides both)
    enabled: bool = False
    example: bool = False
    tag_weight: float | None = None  # set while the prompt has <lora:NAME:W>

    @property
    def active(self) -> bool:
        return self.tag_weight is not None or (self.enabled and self.path is not None)

    @property
    def shown_weight(self) -> float:
        return self.weight if self.tag_weight is None else self.tag_weight


def listed_files(folder: Path | None) -> dict[str, Path]:
    """`NAME → file` of the .safetensors files in and below `folder` (bounded)."""
    if folder is None or not folder.is_dir():
        return {}
    found = sorted(itertools.islice(folder.rglob("*.safetensors"), MAX_LISTED))
    return {path.stem: path for path in found if path.is_file()}


class LoraListModel(QAbstractListModel):
    """One row per LoRA; `changed` after any change that alters the request."""

    RowRole = Qt.ItemDataRole.UserRole + 1
    WeightRole = Qt.ItemDataRole.UserRole + 2
    changed = Signal()

    def __init__(self, folder: Path, examples: Path | None = None, parent: Any = None) -> None:
        super().__init__(parent)
        self.folder = folder
        self.examples = example_lora_dir() if examples is None else examples
        self._rows: list[LoraRow] = []
        self._hashes: dict[tuple[str, int, int], str] = {}
        self.rescan()

    # --- Qt model -------------------------------------------------------------------------
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return row.name
        if role == Qt.ItemDataRole.CheckStateRole:
            return Qt.CheckState.Checked if row.active else Qt.CheckState.Unchecked
        if role == self.WeightRole:
            return row.shown_weight
        if role == self.RowRole:
            return row
        if role == Qt.ItemDataRole.ToolTipRole:
            return _tooltip(row)
        return None

    def flags(self, index: _Index) -> Qt.ItemFlag:
        flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        row = self._rows[index.row()]
        if row.tag_weight is None and row.path is not None:
            flags |= Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEditable
        return flags

    def setData(self, index: _Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if not index.isValid() or not self.flags(index) & Qt.ItemFlag.ItemIsEditable:
            return False
        row = self._rows[index.row()]
        if role == Qt.ItemDataRole.CheckStateRole:
            row.enabled = Qt.CheckState(value) == Qt.CheckState.Checked
        elif role == self.WeightRole:
            row.weight = round(float(value), 2)
        else:
            return False
        self.dataChanged.emit(index, index, [role])
        self.changed.emit()
        return True

    # --- rows -----------------------------------------------------------------------------
    def rows(self) -> list[LoraRow]:
        return list(self._rows)

    def row_named(self, name: str) -> LoraRow | None:
        return next((row for row in self._rows if row.name == name), None)

    def index_of(self, name: str) -> QModelIndex:
        names = [row.name for row in self._rows]
        return self.index(names.index(name)) if name in names else QModelIndex()

    def set_folder(self, folder: Path) -> None:
        self.folder = folder
        self.rescan()

    def rescan(self) -> None:
        """Lists the folder's files, then the examples it does not shadow; keeps each name's
        on/off and weight, and the prompt's tags."""
        old = {row.name: row for row in self._rows}
        files = listed_files(self.folder)
        examples = {k: v for k, v in listed_files(self.examples).items() if k not in files}
        rows = []
        for name, path in [*files.items(), *examples.items()]:
            before = old.pop(name, None)
            row = LoraRow(name, path, example=name in examples)
            if before is not None:
                row.weight, row.enabled, row.tag_weight = (
                    before.weight, before.enabled, before.tag_weight)  # fmt: skip
            rows.append(row)
        rows += [row for row in old.values() if row.tag_weight is not None]  # still missing
        for row in rows[len(files) + len(examples) :]:
            row.path = None
        self.beginResetModel()
        self._rows = rows
        self.endResetModel()
        self.changed.emit()

    def follow_prompt(self, prompt: str) -> None:
        """Shows the prompt's `<lora:NAME:W>` tags: a tagged row is on at the tag's weight; a
        tag naming no file gets a row marked missing. A tag the engine would refuse (a weight
        that is no number) is left for the engine's error line."""
        try:
            tags = dict(prompt_tags(prompt))
        except BrushworkError:
            return
        changed = False
        for row in self._rows:
            weight = tags.pop(row.name, None)
            changed |= row.tag_weight != weight
            row.tag_weight = weight
        if tags:
            changed = True
            self.beginInsertRows(QModelIndex(), len(self._rows), len(self._rows) + len(tags) - 1)
            self._rows += [LoraRow(name, None, tag_weight=w) for name, w in tags.items()]
            self.endInsertRows()
        gone = [k for k, row in enumerate(self._rows) if not row.path and row.tag_weight is None]
        for k in reversed(gone):
            self.beginRemoveRows(QModelIndex(), k, k)
            del self._rows[k]
            self.endRemoveRows()
        if changed:
            self.dataChanged.emit(self.index(0), self.index(max(0, len(self._rows) - 1)))
            self.changed.emit()

    # --- adding files ---------------------------------------------------------------------
    def add_file(self, source: Path) -> str:
        """Copies a checked LoRA file into the folder and turns it on; returns its name.

        Raises BrushworkError (the engine's messages: pickle, truncated, NaN, LyCORIS…) with
        nothing copied; a different file of the same name already there is refused too."""
        if source.suffix.lower() != ".safetensors":
            read_lora(source)  # says why: a pickle, or no LoRA at all
            raise BrushworkError(f"{source.name}: LoRAs are .safetensors files.")
        lora = read_lora(source)
        target = self.folder / source.name
        if source.resolve() != target.resolve():
            if target.exists() and self._hash(target) != lora.short_hash:
                raise BrushworkError(
                    f"The LoRA folder already has another {source.name}; rename one of them."
                )
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
                partial = target.with_suffix(".part")
                shutil.copyfile(source, partial)
                partial.replace(target)  # never a half-copied LoRA under its real name
            except OSError as exc:
                raise BrushworkError(f"{source.name} could not be copied to {self.folder}: "
                                     f"{exc.strerror or exc}") from None  # fmt: skip
        self.rescan()
        index = self.index_of(lora.name)
        self.setData(index, Qt.CheckState.Checked.value, Qt.ItemDataRole.CheckStateRole)
        return lora.name

    # --- the request and recalled parameters ---------------------------------------------
    def request_loras(self) -> tuple[tuple[str, float], ...]:
        """The enabled rows that no prompt tag names, as the request's (file, weight) pairs."""
        return tuple((str(row.path), row.weight) for row in self._rows
                     if row.enabled and row.path and row.tag_weight is None)  # fmt: skip

    def applied(self) -> tuple[tuple[str, float], ...]:
        """The rows switched on in the list (not by a prompt tag), as (name, weight)."""
        return tuple((row.name, row.weight) for row in self._rows if row.enabled and row.path)

    def restore_applied(self, wanted: tuple[tuple[str, float], ...]) -> list[str]:
        """`set_applied` for a saved session's (name, weight) pairs; the names not listed."""
        files = {row.name for row in self._rows if row.path is not None}
        listed = {name: weight for name, weight in wanted if name in files}
        self.set_applied(listed)
        return [name for name, _weight in wanted if name not in listed]

    def set_applied(self, wanted: dict[str, float]) -> None:
        """Exactly these rows on, at these weights (name → weight); every other row off."""
        for row in self._rows:
            row.enabled = row.name in wanted and row.path is not None
            if row.enabled:
                row.weight = wanted[row.name]
        self.dataChanged.emit(self.index(0), self.index(max(0, len(self._rows) - 1)))
        self.changed.emit()

    def find(self, name: str, digest: str | None) -> str | None:
        """The listed LoRA recorded as `name` (and A1111 short hash `digest`): the one of that
        name, else one whose file has that hash (renamed since)."""
        row = self.row_named(name)
        if row is not None and row.path is not None:
            return name
        if digest:
            for row in self._rows:
                if row.path is not None and self._hash(row.path) == digest.lower()[:12]:
                    return row.name
        return None

    def _hash(self, path: Path) -> str | None:
        try:
            stat = path.stat()
            key = (str(path), stat.st_mtime_ns, stat.st_size)
            if key not in self._hashes:
                self._hashes[key] = short_hash(path)
            return self._hashes[key]
        except (OSError, BrushworkError):
            return None  # an unreadable file matches no hash


def _tooltip(row: LoraRow) -> str:
    if row.path is None:
        return f"<lora:{row.name}> is in the prompt, but no LoRA of that name is in the folder"
    where = "example shipped with Brushwork (for its bundled model)" if row.example else ""
    tag = "weight set by <lora:…> in the prompt; edit the prompt to change it"
    return "\n".join(part for part in (str(row.path), where, tag if row.tag_weight else "") if part)


class LoraRowWidget(QWidget):
    """On/off box with the name, a weight slider and the weight as text."""

    def __init__(self, model: LoraListModel, index: QModelIndex, parent: QWidget | None = None):
        super().__init__(parent)
        self.model, self.index = model, QPersistentModelIndex(index)
        row: LoraRow = model.data(index, LoraListModel.RowRole)
        self.setObjectName(f"lora:{row.name}")
        self.check = QCheckBox()
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setFixedWidth(110)  # the sliders line up whatever the names' lengths
        self.slider.setRange(*SLIDER_RANGE)
        self.slider.setSingleStep(5)
        self.slider.setPageStep(25)
        self.value = QLabel()
        self.value.setMinimumWidth(36)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.check, 1)
        layout.addWidget(self.slider)
        layout.addWidget(self.value)
        self.refresh()
        self.check.toggled.connect(self._toggled)
        self.slider.valueChanged.connect(self._moved)

    def refresh(self) -> None:
        row: LoraRow = self.model.data(QModelIndex(self.index), LoraListModel.RowRole)
        editable = row.tag_weight is None and row.path is not None
        with QSignalBlocker(self.check), QSignalBlocker(self.slider):
            self.check.setChecked(row.active)
            self.slider.setValue(round(row.shown_weight * 100))
        tag = " · prompt tag" if row.tag_weight is not None else ""
        self.check.setText(row.name + (" (example)" if row.example else "") + tag)
        self.check.setEnabled(editable)
        self.slider.setEnabled(editable)
        self.value.setText("missing" if row.path is None else f"{row.shown_weight:.2f}")
        self.setToolTip(_tooltip(row))
        style = "color: #c0392b;" if row.path is None else ""
        self.value.setStyleSheet(style)

    def _toggled(self, on: bool) -> None:
        state = Qt.CheckState.Checked if on else Qt.CheckState.Unchecked
        self.model.setData(QModelIndex(self.index), state.value, Qt.ItemDataRole.CheckStateRole)

    def _moved(self, value: int) -> None:
        self.model.setData(QModelIndex(self.index), value / 100, LoraListModel.WeightRole)
        self.value.setText(f"{value / 100:.2f}")


class LoraListView(QWidget):
    """Row widgets for the model, the Add… button, and drops of .safetensors files."""

    error = Signal(str)
    message = Signal(str)

    def __init__(self, model: LoraListModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.setAcceptDrops(True)
        self.add_button = QPushButton("Add…")
        self.add_button.setToolTip("Copy a LoRA (.safetensors) into the LoRA folder; or drop one")
        self.add_button.clicked.connect(self._choose)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("List the LoRA folder again (files copied there by hand)")
        self.refresh_button.clicked.connect(model.rescan)
        self.empty = QLabel("No LoRAs yet: Add… or drop a .safetensors file here")
        self.empty.setWordWrap(True)
        self.rows_box = QVBoxLayout()
        self.rows_box.setContentsMargins(0, 0, 0, 0)
        header = QHBoxLayout()
        header.addWidget(QLabel("LoRAs"), 1)
        header.addWidget(self.refresh_button)
        header.addWidget(self.add_button)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(header)
        column.addLayout(self.rows_box)
        column.addWidget(self.empty)
        self.row_widgets: dict[str, LoraRowWidget] = {}
        model.modelReset.connect(self._rebuild)
        model.rowsInserted.connect(self._rebuild)
        model.rowsRemoved.connect(self._rebuild)
        model.dataChanged.connect(self._refresh)
        self._rebuild()

    def _rebuild(self) -> None:
        for widget in self.row_widgets.values():
            self.rows_box.removeWidget(widget)
            widget.hide()  # gone now, not at the next turn of the event loop
            widget.deleteLater()
        self.row_widgets = {}
        for k in range(self.model.rowCount()):
            index = self.model.index(k)
            widget = LoraRowWidget(self.model, index, self)
            self.row_widgets[self.model.data(index)] = widget
            self.rows_box.addWidget(widget)
        self.empty.setVisible(not self.row_widgets)

    def _refresh(self, *_args: Any) -> None:
        for widget in self.row_widgets.values():
            widget.refresh()

    def _choose(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Add a LoRA", str(Path.home()), "LoRA (*.safetensors)"
        )
        if path:
            self.add(Path(path))

    def add(self, path: Path) -> None:
        try:
            name = self.model.add_file(path)
        except BrushworkError as exc:
            self.error.emit(str(exc))
            return
        self.message.emit(f"LoRA {name} added to {self.model.folder} and turned on")

    @staticmethod
    def _dropped(event: QDragEnterEvent | QDropEvent) -> list[Path]:
        urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
        paths = [Path(url.toLocalFile()) for url in urls if url.isLocalFile()]
        return [p for p in paths if p.suffix.lower() in (".safetensors", ".ckpt", ".pt", ".bin")]

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self._dropped(event):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        for path in self._dropped(event):
            self.add(path)  # a pickle is refused by name, like Add…
        event.acceptProposedAction()
