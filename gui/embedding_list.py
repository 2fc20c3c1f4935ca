"""The embeddings list: textual-inversion embeddings of the embeddings folder (and the shipped
examples) by name; clicking a name inserts it into the prompt, where the engine finds it.

Files in the folder are the engine's to find (`embedding_dir`, used by name). A shipped example
is not in that folder, so a prompt that names one gets its file in the request's `embeddings` —
only for the bundled model, which the examples were trained for: "coin" in a prompt for another
model stays a plain word.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, QStringListModel, Qt, Signal
from PySide6.QtWidgets import QLabel, QListView, QVBoxLayout, QWidget

from pipeline.embeddings import example_embedding_dir, mentioned

from .lora_list import listed_files


class EmbeddingListModel(QStringListModel):
    """Names of the folder's embeddings, then the examples the folder does not shadow."""

    def __init__(self, folder: Path, examples: Path | None = None, parent: Any = None) -> None:
        super().__init__(parent)
        self.folder = folder
        self.examples_dir = example_embedding_dir() if examples is None else examples
        self.files: dict[str, Path] = {}
        self.examples: dict[str, Path] = {}
        self.rescan()

    def set_folder(self, folder: Path) -> None:
        self.folder = folder
        self.rescan()

    def rescan(self) -> None:
        self.files = listed_files(self.folder)
        self.examples = {k: v for k, v in listed_files(self.examples_dir).items()
                         if k not in self.files}  # fmt: skip
        self.setStringList([*self.files, *self.examples])

    def data(self, index: Any, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        name = super().data(index, Qt.ItemDataRole.EditRole)
        if role == Qt.ItemDataRole.DisplayRole and name in self.examples:
            return f"{name} (example)"
        if role == Qt.ItemDataRole.ToolTipRole and name:
            path = self.files.get(name) or self.examples.get(name)
            return f"{path}\nClick to insert “{name}” into the prompt"
        return super().data(index, role)

    def name_at(self, row: int) -> str:
        return self.stringList()[row]

    def request_files(self, prompts: str, bundled_model: bool) -> tuple[str, ...]:
        """The shipped examples the prompts name (folder files the engine finds by itself)."""
        if not bundled_model:
            return ()
        return tuple(str(self.examples[n]) for n in mentioned(prompts, list(self.examples)))


class EmbeddingListView(QWidget):
    """The names as a list; a click asks for the name to be inserted into the prompt."""

    insert_requested = Signal(str)

    def __init__(self, model: EmbeddingListModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.list = QListView()
        self.list.setModel(model)
        self.list.setEditTriggers(QListView.EditTrigger.NoEditTriggers)
        self.list.setMaximumHeight(110)
        self.list.clicked.connect(self._clicked)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(QLabel("Embeddings (click to insert into the prompt)"))
        column.addWidget(self.list)

    def _clicked(self, index: QModelIndex) -> None:
        self.insert_requested.emit(self.model.name_at(index.row()))
