"""Settings → "LoRAs and embeddings": the two folders the lists show (empty = the default)."""

from __future__ import annotations

import dataclasses

from PySide6.QtWidgets import (
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QWidget,
)

from pipeline.embeddings import default_embedding_dir
from pipeline.loras import default_lora_dir

from .settings import Settings


class ExtrasFoldersBox(QGroupBox):
    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__("LoRAs and embeddings", parent)
        self.loras = _folder_field(settings.loras_folder, str(default_lora_dir()))
        self.embeddings = _folder_field(settings.embeddings_folder, str(default_embedding_dir()))
        form = QFormLayout(self)
        form.addRow("LoRA folder", self._row(self.loras, "LoRA folder"))
        form.addRow("Embeddings folder", self._row(self.embeddings, "Embeddings folder"))

    def _row(self, field: QLineEdit, title: str) -> QHBoxLayout:
        browse = QPushButton("Browse…")
        browse.clicked.connect(lambda: self._browse(field, title))
        row = QHBoxLayout()
        row.addWidget(field, 1)
        row.addWidget(browse)
        return row

    def _browse(self, field: QLineEdit, title: str) -> None:
        start = field.text() or field.placeholderText()
        folder = QFileDialog.getExistingDirectory(self, title, start)
        if folder:
            field.setText(folder)

    def apply(self, settings: Settings) -> Settings:
        return dataclasses.replace(
            settings,
            loras_folder=self.loras.text().strip() or None,
            embeddings_folder=self.embeddings.text().strip() or None,
        )


def _folder_field(value: str | None, default: str) -> QLineEdit:
    field = QLineEdit(value or "")
    field.setPlaceholderText(default)
    return field
