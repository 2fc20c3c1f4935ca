"""The "Use few-step preset" button: one click sets steps, CFG and sampler for an LCM, Turbo,
Hyper-SD or Lightning model (pipeline/few_step.py), shown only when the model is one.

Offered, not applied on load: like Fooocus's performance modes and Krita AI Diffusion's sampler
presets, the anchors leave steps/CFG as the user's choice, and silently turning 20 steps into 1
would surprise whoever loaded a Turbo model to compare it at the usual settings.
"""

from __future__ import annotations

from PySide6.QtWidgets import QPushButton, QWidget

from pipeline.few_step import FewStepPreset, peek_preset, preset_fields
from pipeline.samplers import get_sampler

from .panels import ParametersPanel


class FewStepButton(QPushButton):
    def __init__(self, panel: ParametersPanel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.panel = panel
        self.preset: FewStepPreset | None = None
        self.clicked.connect(self.apply)
        self.setVisible(False)

    def show_for(self, model: str | None) -> None:
        self.preset = peek_preset(model)
        self.setVisible(self.preset is not None)
        if self.preset is not None:
            p = self.preset
            sampler = get_sampler(p.sampler).name
            self.setText(f"Use few-step preset: {p.steps} steps, CFG {p.cfg:g}, {sampler}")
            self.setToolTip(f"A few-step model ({p.why}): it is made for these settings.")

    def apply(self) -> None:
        if self.preset is not None:
            self.panel.set_values(preset_fields(self.preset))
