"""Image → Upscale…: the dialog (upscaler, factor, tiled refine, strength) and the controller that
runs it on the worker thread and applies the result to the canvas as one undo step."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QWidget,
)

from pipeline import BrushworkError, GenerationRequest, RequestError
from pipeline.diffusion_upscalers import upscaler_scale
from pipeline.upscale import BUNDLED_UPSCALER, bundled_upscaler_path, list_upscalers
from pipeline.upscale_job import UpscaleJob, UpscaleOutcome

from .upscalers_box import upscalers_folder

if TYPE_CHECKING:
    from .main_window import MainWindow

# What the progress bar counts in each phase of a job (%v: done, %m: in all).
PHASE_FORMATS = {
    "upscale": "Upscaling: tile %v of %m",
    "refine": "Refining: tile %v of %m",
    "steps": "Upscaling: step %v of %m",
    "download": "Downloading the upscaler: %p%",
}


OTHER = "other"  # the Upscaler list's last entry: a folder or Hub id typed in


class UpscaleDialog(QDialog):
    def __init__(
        self,
        size: tuple[int, int],
        upscalers: list[Path],
        prompt: str,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Upscale")
        self._size = size
        self._scales: dict[str, int] = {}  # a diffusers upscaler's path → its scale
        self.model = QComboBox()
        for path in upscalers:
            self._add_upscaler(path)
        self.model.addItem("Other: a diffusers upscaler folder or Hub id…", OTHER)
        self.other = QLineEdit()
        self.other.setPlaceholderText("stabilityai/stable-diffusion-x4-upscaler, or a folder")
        self.factor = QComboBox()
        for factor in (2, 4):
            self.factor.addItem(f"×{factor}", factor)
        self.factor.setCurrentIndex(1)
        self.refine = QCheckBox("Refine in tiles with the model (slower, adds detail)")
        self.prompt = QLineEdit(prompt)
        self.prompt.setPlaceholderText("What the picture shows")
        self.strength = QDoubleSpinBox()
        self.strength.setRange(0.05, 1.0)
        self.strength.setSingleStep(0.05)
        self.strength.setValue(0.35)
        self.result_size = QLabel()
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Upscale")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Upscaler", self.model)
        form.addRow("", self.other)
        form.addRow("Factor", self.factor)
        form.addRow("Result", self.result_size)
        form.addRow(self.refine)
        form.addRow("Prompt", self.prompt)
        form.addRow("Strength", self.strength)
        form.addRow(buttons)
        self.model.currentIndexChanged.connect(self._update)
        self.other.textChanged.connect(self._update)
        self.factor.currentIndexChanged.connect(self._update)
        self.refine.toggled.connect(self._update)
        self._update()

    def _add_upscaler(self, path: Path) -> None:
        if path == bundled_upscaler_path():
            self.model.addItem(f"{BUNDLED_UPSCALER} (bundled)", None)
            return
        scale = upscaler_scale(path) if path.is_dir() else None
        if scale is None:
            self.model.addItem(path.name, str(path))
            return
        self._scales[str(path)] = scale
        kind = "SD ×4" if scale == 4 else "latent ×2"
        self.model.addItem(f"{path.name} ({kind}, diffusion, uses the prompt)", str(path))

    def _diffusion(self) -> bool:
        """A diffusers upscaler is chosen (they are guided by the prompt)."""
        data = self.model.currentData()
        return data == OTHER or data in self._scales

    def _update(self) -> None:
        width, height = self._size
        other = self.model.currentData() == OTHER
        self.other.setVisible(other)
        # The latent upscaler only doubles; the others offer ×2 and ×4.
        only_x2 = self._scales.get(self.model.currentData()) == 2
        self.factor.model().item(1).setEnabled(not only_x2)
        if only_x2:
            self.factor.setCurrentIndex(0)
        factor = self.factor.currentData()
        self.result_size.setText(f"{width}×{height} → {width * factor}×{height * factor} px")
        self.prompt.setEnabled(self.refine.isChecked() or self._diffusion())
        self.strength.setEnabled(self.refine.isChecked())

    def upscaler(self) -> str | None:
        data = self.model.currentData()
        if data != OTHER:
            return data
        text = self.other.text().strip()
        if not text:
            raise RequestError("Type a diffusers upscaler folder or Hub id, or pick an upscaler.")
        return text

    def job(self, image: np.ndarray, model: str | None, folder: Path) -> UpscaleJob:
        """The job as chosen; raises BrushworkError for a size or option it refuses."""
        refine = None
        if self.refine.isChecked():
            refine = GenerationRequest(
                prompt=self.prompt.text().strip(), strength=self.strength.value(), model=model
            )
        return UpscaleJob(
            image=image,
            factor=self.factor.currentData(),
            upscaler=self.upscaler(),
            folder=folder,
            refine=refine,
            prompt=self.prompt.text().strip(),
        )


class UpscaleController(QObject):
    """Runs Upscale… jobs through the window's worker, sharing its job ids, progress bar and
    Cancel button; they wait for no queue, so one is refused while a generation runs."""

    submit = Signal(int, object)  # job id, UpscaleJob → worker.run_upscale (queued)

    def __init__(self, window: MainWindow, folder: Path | None = None) -> None:
        super().__init__(window)
        self.window = window
        self.controller = window.controller
        self._folder = folder
        self.factors: dict[int, int] = {}
        self.submit.connect(window.worker.run_upscale)
        window.worker.upscaled.connect(self._on_upscaled)
        window.worker.upscale_phase.connect(self._on_phase)

    @property
    def folder(self) -> Path:
        """The upscalers folder of Settings (read when used, so a change applies at once)."""
        return self._folder or upscalers_folder(self.window.settings)

    @folder.setter
    def folder(self, folder: Path | None) -> None:
        self._folder = folder

    def open_dialog(self) -> None:
        window = self.window
        if self.controller.running_job and not self.controller.live_job:  # Live gives way
            window.show_error("Wait for the running job to finish (or cancel it) to upscale.")
            return
        upscalers = list_upscalers(self.folder)
        if not upscalers:
            window.show_error(f"No upscale models: put .safetensors files in {self.folder}.")
            return
        prompt = window.panel.prompt.toPlainText().strip()
        size = (window.doc.width, window.doc.height)
        dialog = UpscaleDialog(size, upscalers, prompt, window)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        try:
            job = dialog.job(window.doc.image.copy(), self.controller.model, self.folder)
        except BrushworkError as exc:
            window.show_error(str(exc))
            return
        self.start(job)

    def start(self, job: UpscaleJob) -> int:
        self.window.error_banner.hide()
        job_id = self.controller.start_other_job("Loading the upscaler…", "Upscaling…")
        self.factors[job_id] = job.factor
        self.submit.emit(job_id, job)
        return job_id

    @Slot(int, str)
    def _on_phase(self, job: int, phase: str) -> None:
        self.controller.set_bar_format(job, PHASE_FORMATS.get(phase, "%v of %m"))

    @Slot(int, object)
    def _on_upscaled(self, job: int, outcome: UpscaleOutcome) -> None:
        factor = self.factors.pop(job, 0)
        if not self.controller.end_other_job(job, "Upscaled"):
            return
        # The full bar says what was done; a "%" in a model's name would read as a placeholder.
        self.controller.progressed.emit(1, 1, outcome.summary().replace("%", ""))
        image = outcome.image
        width, height = image.shape[1], image.shape[0]
        if self.controller.results_as_layer:  # Settings → Results go to
            self.window.doc.add_scaled_layer(image, f"Upscale ×{factor}")
        else:
            self.window.doc.replace(image, f"Upscale ×{factor}")  # one flattened picture
        self.window.statusBar().showMessage(
            f"Upscaled ×{factor} to {width}×{height}; not saved yet (File → Save image as…)."
        )
