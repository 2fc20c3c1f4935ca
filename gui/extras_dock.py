"""The "LoRAs & embeddings" dock: the LoRA list and the embeddings list, their folders from
Settings, and what they add to a generation request and to "Use parameters".

The main window adds the dock and calls `applied_to` on each request and `recall` in Use
parameters; everything else is here (issue 19).
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QDockWidget, QMainWindow, QPlainTextEdit, QVBoxLayout, QWidget

from pipeline import GenerationRequest, bundled_model_dir
from pipeline.embeddings import default_embedding_dir
from pipeline.loras import default_lora_dir

from .embedding_list import EmbeddingListModel, EmbeddingListView
from .lora_list import LoraListModel, LoraListView
from .lora_recall import Recalled, recall
from .settings import Settings


def lora_folder(settings: Settings) -> Path:
    return Path(settings.loras_folder) if settings.loras_folder else default_lora_dir()


def embedding_folder(settings: Settings) -> Path:
    return (Path(settings.embeddings_folder) if settings.embeddings_folder
            else default_embedding_dir())  # fmt: skip


class ExtrasDock(QDockWidget):
    error = Signal(str)
    message = Signal(str)

    def __init__(self, settings: Settings, prompt: QPlainTextEdit, parent: QWidget | None = None):
        super().__init__("LoRAs && embeddings", parent)
        self.setObjectName("extrasDock")
        self.prompt = prompt
        self.loras = LoraListModel(lora_folder(settings), parent=self)
        self.embeddings = EmbeddingListModel(embedding_folder(settings), parent=self)
        self.lora_view = LoraListView(self.loras)
        self.embedding_view = EmbeddingListView(self.embeddings)
        body = QWidget()
        column = QVBoxLayout(body)
        column.addWidget(self.lora_view)
        column.addWidget(self.embedding_view)
        column.addStretch(1)
        self.setWidget(body)
        self.lora_view.error.connect(self.error)
        self.lora_view.message.connect(self.message)
        self.embedding_view.insert_requested.connect(self.insert_into_prompt)
        prompt.textChanged.connect(lambda: self.loras.follow_prompt(prompt.toPlainText()))
        self.loras.follow_prompt(prompt.toPlainText())

    def attach(self, window: QMainWindow) -> None:
        """Docked right of the canvas; its errors go to the window's error line."""
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self)
        self.error.connect(window.show_error)  # type: ignore[attr-defined]
        self.message.connect(window.statusBar().showMessage)

    def set_folders(self, settings: Settings) -> None:
        """Settings changed: list the (possibly new) folders again."""
        self.loras.set_folder(lora_folder(settings))
        self.embeddings.set_folder(embedding_folder(settings))

    def insert_into_prompt(self, name: str) -> None:
        cursor = self.prompt.textCursor()
        before = self.prompt.toPlainText()[: cursor.position()]
        cursor.insertText(name if not before or before[-1] in " \n(" else f" {name}")
        self.prompt.setFocus()

    def applied_to(self, request: GenerationRequest, model: str | None) -> GenerationRequest:
        """The request with the list's LoRAs, both folders, and the shipped example embeddings
        its prompts name (only for the bundled model, which they were made for)."""
        prompts = f"{request.prompt}\n{request.negative_prompt}"
        examples = self.embeddings.request_files(prompts, _is_bundled(model))
        return dataclasses.replace(
            request,
            loras=(*request.loras, *self.loras.request_loras()),
            lora_dir=str(self.loras.folder),
            embeddings=(*request.embeddings, *examples),
            embedding_dir=str(self.embeddings.folder),
        )

    def recall(self, info: dict[str, Any], found: dict[str, Any]) -> Recalled:
        """Use parameters: the image's LoRAs on in the list (by name or hash); a prompt tag of
        a LoRA renamed since is rewritten in `found`'s prompt."""
        result = recall(info, self.loras)
        if result.prompt is not None and "prompt" in found:
            found["prompt"] = result.prompt
        if result.missing:
            self.error.emit(
                f"LoRAs used by this image are not in {self.loras.folder}: "
                f"{', '.join(result.missing)}. Add them (Add… in the LoRA list) to repeat it."
            )
        return result


def _is_bundled(model: str | None) -> bool:
    return model is None or _resolves_to_bundled(model)


@functools.lru_cache(maxsize=8)
def _resolves_to_bundled(model: str) -> bool:
    """Cached: every Live request asks, and resolving paths costs the GUI thread ~1 ms."""
    try:
        return Path(model).resolve() == bundled_model_dir().resolve()
    except (OSError, ValueError):
        return False
