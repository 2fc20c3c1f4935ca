"""The settings dialog, in tabs: General (device, precision, memory savings, output folder, where
results go, previews, pickles), Backends, Speed, Folders (upscalers, LoRAs, embeddings)."""

from __future__ import annotations

import dataclasses

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from pipeline import default_output_dir

from .backends_box import BackendsBox
from .extras_folders import ExtrasFoldersBox
from .settings import RESULTS_TO, Settings
from .speed_settings import SpeedBox
from .upscalers_box import UpscalersBox

DEVICES = {"auto": "Automatic (CUDA, then Apple MPS, then CPU)", "cuda": "NVIDIA CUDA",
           "mps": "Apple MPS", "cpu": "CPU"}  # fmt: skip
PRECISIONS = {"auto": "Automatic (half on GPUs, full on CPU)", "fp16": "Half (fp16)",
              "bf16": "bfloat16", "fp32": "Full (fp32)"}  # fmt: skip
MEMORY = {"auto": "Automatic: tiling, slicing or offload only when needed",
          "off": "Off: never trade speed for memory"}  # fmt: skip


class SettingsDialog(QDialog):
    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setMinimumWidth(520)
        self._original = settings
        self.device = _choice(DEVICES, settings.device)
        self.precision = _choice(PRECISIONS, settings.precision)
        self.memory = _choice(MEMORY, settings.memory_savings)
        self.output = QLineEdit(settings.output_dir or "")
        self.output.setPlaceholderText(str(default_output_dir()))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.previews = QCheckBox("Show a preview at every step")
        self.previews.setChecked(settings.previews)
        self.allow_pickle = QCheckBox(
            "Allow .ckpt/.pt checkpoints (read as weights only; pickle files can carry code)"
        )
        self.allow_pickle.setChecked(settings.allow_pickle)
        output_row = QHBoxLayout()
        output_row.addWidget(self.output, 1)
        output_row.addWidget(browse)
        self.results_to = _choice(RESULTS_TO, settings.paint_results_to)
        general = QWidget()
        form = QFormLayout(general)
        form.addRow("Device", self.device)
        form.addRow("Precision", self.precision)
        form.addRow("Memory savings", self.memory)
        form.addRow("Output folder", output_row)
        form.addRow("Results go to", self.results_to)
        form.addRow(self.previews)
        form.addRow(self.allow_pickle)
        self.backends = BackendsBox(settings)
        self.speed = SpeedBox(settings)
        self.upscalers = UpscalersBox(settings)
        self.extras_folders = ExtrasFoldersBox(settings)  # LoRA and embedding folders
        # Tabs, not one long form: every group in one column was taller than a 768 px screen.
        self.tabs = QTabWidget()
        self.tabs.addTab(general, "General")
        self.tabs.addTab(_page(self.backends), "Backends")
        self.tabs.addTab(_page(self.speed), "Speed")
        self.tabs.addTab(_page(self.upscalers, self.extras_folders), "Folders")
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self._accept_if_valid)
        buttons.rejected.connect(self.reject)
        column = QVBoxLayout(self)
        column.addWidget(self.tabs)
        column.addWidget(buttons)

    def _accept_if_valid(self) -> None:
        if self.backends.check():
            self.accept()
        else:  # the box says what is wrong: show it
            self.tabs.setCurrentIndex(self.tabs.indexOf(self.backends.parentWidget()))

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Output folder", self.output.text())
        if folder:
            self.output.setText(folder)

    def result_settings(self) -> Settings:
        settings = dataclasses.replace(
            self._original,
            device=self.device.currentData(),
            precision=self.precision.currentData(),
            memory_savings=self.memory.currentData(),
            output_dir=self.output.text().strip() or None,
            previews=self.previews.isChecked(),
            allow_pickle=self.allow_pickle.isChecked(),
        )
        settings = dataclasses.replace(settings, paint_results_to=self.results_to.currentData())
        settings = self.extras_folders.apply(settings)
        return self.upscalers.apply(self.speed.apply(self.backends.apply(settings)))


def _page(*boxes: QWidget) -> QWidget:
    """A tab holding `boxes` one above the other, pushed to the top."""
    page = QWidget()
    column = QVBoxLayout(page)
    for box in boxes:
        column.addWidget(box)
    column.addStretch(1)
    return page


def _choice(options: dict[str, str], current: str) -> QComboBox:
    box = QComboBox()
    for key, text in options.items():
        box.addItem(text, key)
    box.setCurrentIndex(max(box.findData(current), 0))
    return box
