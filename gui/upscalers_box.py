"""Settings → Upscalers: the folder whose upscale models Image → Upscale… lists (setting key
`upscalers_folder`, the `upscalers/` group of the contract)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from PySide6.QtWidgets import (
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from pipeline.upscale import user_upscalers_dir

from .settings import Settings

NOTE = (
    "Upscale models (ESRGAN, Real-ESRGAN, SwinIR, HAT, DAT, … as .safetensors; .pth only with "
    "the .ckpt/.pt opt-in above) and diffusers upscaler folders (SD ×4, latent ×2) in this "
    "folder are listed in Image → Upscale…"
)


def upscalers_folder(settings: Settings) -> Path:
    """The folder of the user's upscalers: the one chosen in Settings, or the default."""
    chosen = settings.upscalers_folder
    return Path(chosen).expanduser() if chosen else user_upscalers_dir()


class UpscalersBox(QGroupBox):
    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__("Upscalers", parent)
        self.folder = QLineEdit(settings.upscalers_folder or "")
        self.folder.setPlaceholderText(str(user_upscalers_dir()))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        note = QLabel(NOTE)
        note.setWordWrap(True)
        form = QFormLayout(self)
        form.addRow("Folder", row)
        form.addRow(note)

    def _browse(self) -> None:
        start = self.folder.text() or str(user_upscalers_dir())
        folder = QFileDialog.getExistingDirectory(self, "Upscalers folder", start)
        if folder:
            self.folder.setText(folder)

    def apply(self, settings: Settings) -> Settings:
        return dataclasses.replace(settings, upscalers_folder=self.folder.text().strip() or None)
