"""The step scrubber under the canvas: a slider through the last generation's step previews,
and "Branch from step k", which continues that run's own sampler from step k's latents with the
panel's current prompt, negative prompt, CFG and seed (pipeline/branching.py).

Scrubbing shows step k's preview over the canvas (as a running job's previews are shown); the
last position shows the result itself. Nothing here changes the document: a branch's result
arrives like any generation's, through the controller.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSlider, QWidget

from pipeline import BrushworkError, GenerationRequest, Mode, RequestError

from .step_previews import StepPreviews

SCRUB_JOB = -1  # the canvas shows a scrubbed preview as this job's (real jobs are 1, 2, …)
IDLE_TEXT = "Step previews of the next generation show here"


class Scrubber(QWidget):
    def __init__(
        self,
        previews: StepPreviews,
        canvas: Any,
        controller: Any,
        panel: Any,
        show_error: Callable[[str], None],
        say: Callable[[str], None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("stepScrubber")
        self.previews, self.canvas, self.controller = previews, canvas, controller
        self.panel = panel
        self.show_error, self.say = show_error, say
        self._running = False
        self._on_canvas = False  # a scrubbed preview covers the canvas
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setPageStep(1)  # a click on the groove moves one step
        self.slider.setToolTip("Scrub through the steps of the last generation (←/→, Home, End)")
        self.label = QLabel(IDLE_TEXT)
        self.branch_button = QPushButton("Branch from step")
        self.branch_button.setToolTip(
            "Continue the last generation's sampler from this step with the panel's prompt, "
            "negative prompt, CFG and seed (Random: the run's own seed, so only the prompt or "
            "CFG changes the rest)"
        )
        row = QHBoxLayout(self)
        row.setContentsMargins(4, 2, 4, 2)
        row.addWidget(QLabel("Steps"))
        row.addWidget(self.slider, 1)
        row.addWidget(self.label)
        row.addWidget(self.branch_button)
        self.slider.valueChanged.connect(self._show_step)
        self.branch_button.clicked.connect(self.branch)
        previews.changed.connect(self._on_new_set)
        controller.running_changed.connect(self._on_running)
        self._refresh()

    # --- scrubbing ---------------------------------------------------------------------------

    @Slot()
    def _on_new_set(self) -> None:
        self._on_canvas = False
        self.slider.blockSignals(True)
        self.slider.setRange(1, max(self.previews.total, 1))
        self.slider.setValue(self.previews.total)  # the result itself
        self.slider.blockSignals(False)
        self._refresh()

    @Slot(bool)
    def _on_running(self, running: bool) -> None:
        self._running = running
        if running:  # the running job's previews take the canvas over (it began its job)
            self._on_canvas = False
            self.slider.blockSignals(True)
            self.slider.setValue(self.slider.maximum())
            self.slider.blockSignals(False)
        self._refresh()

    @Slot(int)
    def _show_step(self, step: int) -> None:
        if self._running:
            return
        if step >= self.previews.total:
            self.leave()
        else:
            image = self.previews.image(step)
            if image is not None:
                masked = self.previews.request is not None and (
                    self.previews.request.mode is Mode.INPAINT
                )
                self.canvas.begin_job(SCRUB_JOB, masked=masked)
                self.canvas.show_preview(SCRUB_JOB, image, self.previews.region(step))
                self._on_canvas = True
        self._refresh()

    @Slot()
    def leave(self) -> None:
        """Shows the result again (the last step); called when the document changes too."""
        if self._on_canvas:
            self._on_canvas = False
            self.canvas.end_job()
        if self.slider.value() != self.slider.maximum():
            self.slider.blockSignals(True)
            self.slider.setValue(self.slider.maximum())
            self.slider.blockSignals(False)
            self._refresh()

    def _refresh(self) -> None:
        total, step = self.previews.total, self.slider.value()
        usable = total > 0 and not self._running
        self.slider.setEnabled(usable)
        self.branch_button.setEnabled(usable and step < total)
        branchable = total and step < total  # the last step is the result: nothing to continue
        self.branch_button.setText(f"Branch from step {step}" if branchable else "Branch from step")
        recorder = self.previews.recorder  # what was not kept, and why (memory caps)
        notes = [self.previews.note, recorder.note if recorder else None]
        self.label.setToolTip(" ".join(note for note in notes if note))
        if self._running:
            self.label.setText("Generating…")
        elif not total:
            self.label.setText(IDLE_TEXT)
        elif step >= total:
            self.label.setText(f"Step {total}/{total} · result")
        elif self.previews.image(step) is None:
            self.label.setText(f"Step {step}/{total} · no preview kept")
        else:
            self.label.setText(f"Step {step}/{total}")

    # --- branching -----------------------------------------------------------------------------

    @Slot()
    def branch(self) -> None:
        """Queues the branch from the slider's step; a reason on the error line if it cannot."""
        step = self.slider.value()
        try:
            request = self.branch_request(step)
        except BrushworkError as exc:
            self.show_error(str(exc))
            return
        self.leave()
        self.previews.expect_branch(request.branch)
        self.controller.enqueue(request, 1)
        self.say(f"Branching from step {step} of {self.previews.total}…")

    def branch_request(self, step: int) -> GenerationRequest:
        """The last run's request continued from `step` with the panel's prompt, CFG and seed;
        RequestError when it cannot be (no latents, another model, an unbranchable run)."""
        last, recorder = self.previews.request, self.previews.recorder
        if last is None or recorder is None:
            raise RequestError(
                "The last generation kept no latents to branch from (only generations on this "
                "computer do)."
            )
        if self.controller.model != last.model:
            made, now = _model_name(last.model), _model_name(self.controller.model)
            raise RequestError(
                f"The step previews are from {made}; the model is now {now}. A branch "
                f"continues the latents {made} made: choose it again under Model to branch "
                "(the previews stay until the next generation)."
            )
        point = recorder.point(step)
        panel = self.panel
        seed = panel.seed_field.for_request()
        return last.replace(
            prompt=panel.prompt.toPlainText(),
            negative_prompt=panel.negative.toPlainText(),
            guidance=panel.table.request_value("guidance"),
            seed=last.seed if seed is None else seed,
            mode=Mode.TXT2IMG,  # the init image (img2img) is already in the latents
            init_image=None,
            mask=None,
            strength=None,
            branch=point,
        )


def _model_name(model: str | None) -> str:
    return "the bundled model" if model is None else model


def attach_scrubber(window: Any) -> Scrubber:
    """Makes the previews model and the scrubber and puts it right under the canvas."""
    controller = window.controller
    previews = StepPreviews(window.worker, parent=window,
                            is_live=lambda job: job == controller.live_job)  # fmt: skip
    scrubber = Scrubber(
        previews, window.canvas, window.controller, window.panel, window.show_error,
        window.statusBar().showMessage,
    )  # fmt: skip
    layout = window.canvas.parentWidget().layout()
    layout.insertWidget(layout.indexOf(window.canvas) + 1, scrubber)
    window.doc.image_changed.connect(scrubber.leave)
    return scrubber
