"""Settings → Backends: generate on this computer, or on ComfyUI servers (any number of URLs)."""

from __future__ import annotations

import dataclasses

from PySide6.QtWidgets import (
    QButtonGroup,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QRadioButton,
    QWidget,
)

from pipeline import RequestError
from pipeline.remote.client import normalize_url

from .remote_backend import PREVIEW_NOTE
from .settings import Settings


class BackendsBox(QGroupBox):
    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__("Backends", parent)
        self.local = QRadioButton("Local: this computer")
        self.remote = QRadioButton("ComfyUI servers: each job goes to the shortest queue")
        group = QButtonGroup(self)
        group.addButton(self.local)
        group.addButton(self.remote)
        (self.remote if settings.backend == "servers" else self.local).setChecked(True)
        self.urls = QPlainTextEdit("\n".join(settings.servers))
        self.urls.setPlaceholderText("http://127.0.0.1:8188\nhttps://gpu-box.example:8443")
        self.urls.setMaximumHeight(70)
        self.checkpoint = QLineEdit(settings.server_checkpoint)
        self.checkpoint.setPlaceholderText(
            "a checkpoint on the servers, e.g. dreamshaper_8.safetensors"
        )
        note = QLabel(PREVIEW_NOTE)
        note.setWordWrap(True)
        self.error = QLabel()
        self.error.setStyleSheet("color: #c0392b")
        self.error.setWordWrap(True)
        self.error.hide()
        form = QFormLayout(self)
        form.addRow(self.local)
        form.addRow(self.remote)
        form.addRow("Server URLs", self.urls)
        form.addRow("Checkpoint", self.checkpoint)
        form.addRow(note)
        form.addRow(self.error)
        self.remote.toggled.connect(self._enable)
        self._enable(self.remote.isChecked())

    def _enable(self, on: bool) -> None:
        self.urls.setEnabled(on)
        self.checkpoint.setEnabled(on)

    def server_urls(self) -> list[str]:
        return [line.strip() for line in self.urls.toPlainText().splitlines() if line.strip()]

    def check(self) -> bool:
        """Whether the entries can be used; if not, says why under the fields."""
        problem = ""
        if self.remote.isChecked():
            try:
                urls = [normalize_url(url) for url in self.server_urls()]
                if not urls:
                    problem = "Add at least one server URL."
                elif not self.checkpoint.text().strip():
                    problem = "Name the checkpoint the servers should use."
            except RequestError as exc:
                problem = str(exc)
        self.error.setText(problem)
        self.error.setVisible(bool(problem))
        return not problem

    def apply(self, settings: Settings) -> Settings:
        return dataclasses.replace(
            settings,
            backend="servers" if self.remote.isChecked() else "local",
            servers=self.server_urls(),
            server_checkpoint=self.checkpoint.text().strip(),
        )
