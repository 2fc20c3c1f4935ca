"""The generation parameters panel: prompt, negative prompt, sampler, steps, CFG, seed, size."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent, QRegularExpressionValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QWidget,
)

from pipeline import DEFAULT_SAMPLER, SAMPLERS, GenerationRequest, RequestError
from pipeline.request import MAX_GUIDANCE, MAX_SIZE, MAX_STEPS, MIN_SIZE


class PromptEdit(QPlainTextEdit):
    """A multi-line prompt box; Ctrl+Enter submits instead of inserting a line break."""

    submitted = Signal()

    def __init__(self, placeholder: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setPlaceholderText(placeholder)
        self.setTabChangesFocus(True)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        enter = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        if enter and event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.submitted.emit()
            return
        super().keyPressEvent(event)


class ParametersPanel(QWidget):
    """Holds the user's parameters and turns them into a validated `GenerationRequest`."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.prompt = PromptEdit("Describe the image, e.g. a large red circle, blue background")
        self.prompt.setObjectName("prompt")
        self.negative = PromptEdit("What to avoid (optional)")
        self.negative.setObjectName("negative")
        self.negative.setMaximumHeight(64)
        self.sampler = QComboBox()
        for sampler in SAMPLERS:
            self.sampler.addItem(sampler.name, sampler.id)
        self.sampler.setCurrentIndex(self.sampler.findData(DEFAULT_SAMPLER))
        self.steps = _spin(1, MAX_STEPS, 20)
        self.guidance = QDoubleSpinBox()
        self.guidance.setRange(0.0, MAX_GUIDANCE)
        self.guidance.setSingleStep(0.5)
        self.guidance.setValue(7.0)
        self.guidance.setToolTip("Classifier-free guidance: how closely to follow the prompt")
        self.seed = QLineEdit()
        self.seed.setValidator(QRegularExpressionValidator(r"\d{0,10}"))
        self.seed.setPlaceholderText("random")
        self.random_seed = QCheckBox("Random")
        self.random_seed.setChecked(True)
        self.random_seed.toggled.connect(self._sync_seed)
        self.width_box = _spin(MIN_SIZE, MAX_SIZE, 512, step=8, suffix=" px")
        self.height_box = _spin(MIN_SIZE, MAX_SIZE, 512, step=8, suffix=" px")
        self._layout()
        self._sync_seed()

    def _layout(self) -> None:
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow(QLabel("Prompt"))
        form.addRow(self.prompt)
        form.addRow(QLabel("Negative prompt"))
        form.addRow(self.negative)
        form.addRow("Sampler", self.sampler)
        form.addRow("Steps", self.steps)
        form.addRow("CFG scale", self.guidance)
        seed_row = QHBoxLayout()
        seed_row.addWidget(self.seed, 1)
        seed_row.addWidget(self.random_seed)
        form.addRow("Seed", seed_row)
        size_row = QHBoxLayout()
        size_row.addWidget(self.width_box)
        size_row.addWidget(QLabel("×"))
        size_row.addWidget(self.height_box)
        form.addRow("Size", size_row)

    def _sync_seed(self) -> None:
        self.seed.setEnabled(not self.random_seed.isChecked())

    def show_used_seed(self, seed: int) -> None:
        """Shows the seed a job used (random or not), so the user can pin and re-use it."""
        self.seed.setText(str(seed))

    def set_size(self, width: int, height: int) -> None:
        self.width_box.setValue(width)
        self.height_box.setValue(height)

    def request(self, model: str | None) -> GenerationRequest:
        """Builds the request; raises RequestError naming the bad field."""
        seed: int | None = None
        if not self.random_seed.isChecked():
            if not self.seed.text():
                raise RequestError("Enter a seed, or tick Random.")
            seed = int(self.seed.text())
        return GenerationRequest(
            prompt=self.prompt.toPlainText().strip(),
            negative_prompt=self.negative.toPlainText().strip(),
            sampler=self.sampler.currentData(),
            steps=self.steps.value(),
            guidance=self.guidance.value(),
            seed=seed,
            width=self.width_box.value(),
            height=self.height_box.value(),
            model=model,
        )


def _spin(low: int, high: int, value: int, step: int = 1, suffix: str = "") -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setSingleStep(step)
    box.setValue(value)
    box.setSuffix(suffix)
    return box
