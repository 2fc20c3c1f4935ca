"""The seed box and its Random tick."""

from __future__ import annotations

from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLineEdit

from pipeline import RequestError


class SeedField:
    """The typed seed and the Random tick that greys it out; `row()` lays both out."""

    def __init__(self) -> None:
        self.seed = QLineEdit()
        self.seed.setValidator(QRegularExpressionValidator(r"\d{0,10}"))
        self.seed.setPlaceholderText("random")
        self.random_seed = QCheckBox("Random")
        self.random_seed.setChecked(True)
        self.random_seed.toggled.connect(self._sync)
        self._sync()

    def row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.addWidget(self.seed, 1)
        row.addWidget(self.random_seed)
        return row

    def _sync(self) -> None:
        self.seed.setEnabled(not self.random_seed.isChecked())

    def typed(self) -> int | None:
        """The seed in the box (shown even under Random), None when empty."""
        return int(self.seed.text()) if self.seed.text() else None

    def show(self, seed: int | None) -> None:
        self.seed.setText("" if seed is None else str(seed))

    def for_request(self) -> int | None:
        """None under Random; raises RequestError when a fixed seed is missing."""
        if self.random_seed.isChecked():
            return None
        if not self.seed.text():
            raise RequestError("Enter a seed, or tick Random.")
        return int(self.seed.text())
