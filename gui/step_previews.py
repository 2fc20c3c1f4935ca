"""Every step's preview of the last finished generation, and its recorded latents (branching).

Collected from the worker's signals while a job runs (`progressed` says the step, `previewed`
follows with its picture, `recorded` brings the latents) and adopted when the job finishes, so
a cancelled or failed job leaves the previous set as it was. Previews are kept at display size
(at most `max_side` pixels a side) and at most `max_bytes` in all; the latents are bounded by
the worker's StepRecorder. A branch's set is the parent's first k steps plus its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtGui import QImage

from pipeline.branching import BranchPoint, StepRecorder

MAX_SIDE = 384
MAX_BYTES = 64 * 2**20
MAX_COUNT = 1000  # Heun-type samplers report 2 × steps − 1; MAX_STEPS is 500


@dataclass
class _Collecting:
    step: int = 0
    total: int = 0
    images: dict[int, tuple[QImage, Any]] = field(default_factory=dict)
    recorder: StepRecorder | None = None


class StepPreviews(QObject):
    """The Qt model of the scrubber: `changed` when a finished generation's set replaces the
    previous one."""

    changed = Signal()

    def __init__(self, worker: Any, max_side: int = MAX_SIDE, max_bytes: int = MAX_BYTES,
                 parent: QObject | None = None,
                 is_live: Callable[[int], bool] = lambda _job: False) -> None:  # fmt: skip
        super().__init__(parent)
        self._is_live = is_live  # Live's jobs are sketches in its panel, not the scrubbed run
        self.max_side, self.max_bytes = max_side, max_bytes
        self.total = 0
        self.images: dict[int, tuple[QImage, Any]] = {}  # step → (preview, canvas region)
        self.recorder: StepRecorder | None = None
        self.request: Any = None  # the finished run's request (resolved: seed, sampler, size)
        self.note = ""  # why some previews were not kept
        self._jobs: dict[int, _Collecting] = {}
        self._branching: tuple[BranchPoint, dict, list[BranchPoint]] | None = None
        worker.progressed.connect(self._on_progress)
        worker.previewed.connect(self._on_preview)
        worker.recorded.connect(self._on_recorded)
        worker.finished.connect(self._on_finished)
        for ended in (worker.cancelled, worker.failed):
            ended.connect(self._forget)

    def image(self, step: int) -> QImage | None:
        kept = self.images.get(step)
        return kept[0] if kept else None

    def region(self, step: int) -> Any:
        kept = self.images.get(step)
        return kept[1] if kept else None

    def expect_branch(self, point: BranchPoint) -> None:
        """A branch from `point` was queued: its set will start with these first steps."""
        images = {k: v for k, v in self.images.items() if k <= point.step}
        points = list(self.recorder.points[: point.step]) if self.recorder else []
        self._branching = (point, images, points)

    # --- worker signals (queued: they run here, on the GUI thread, in emission order) --------

    @Slot(int, int, int, float)
    def _on_progress(self, job: int, step: int, total: int, _elapsed: float) -> None:
        if job not in self._jobs and self._is_live(job):
            return  # never collected: its previews and its end are ignored below
        collecting = self._jobs.setdefault(job, _Collecting())
        collecting.step, collecting.total = step, total

    @Slot(int, QImage, object)
    def _on_preview(self, job: int, image: QImage, region: object) -> None:
        collecting = self._jobs.get(job)
        if collecting is None or len(collecting.images) >= MAX_COUNT:
            return
        if max(image.width(), image.height()) > self.max_side:
            image = image.scaled(self.max_side, self.max_side, Qt.AspectRatioMode.KeepAspectRatio,
                                 Qt.TransformationMode.SmoothTransformation)  # fmt: skip
        collecting.images[collecting.step] = (image.copy(), region)

    @Slot(int, object)
    def _on_recorded(self, job: int, recorder: StepRecorder) -> None:
        self._jobs.setdefault(job, _Collecting()).recorder = recorder

    @Slot(int, object)
    def _on_finished(self, job: int, results: list) -> None:
        collecting = self._jobs.pop(job, _Collecting())
        if not results or not collecting.total:
            return  # not a generation (an upscale): the set stays
        request = results[0].request
        images = collecting.images
        recorder = collecting.recorder
        branching, self._branching = self._branching, None
        if request.branch is not None and branching and branching[0] is request.branch:
            images = {**branching[1], **images}  # the parent's first k steps
            if recorder is not None:
                recorder.points[:0] = branching[2]  # the worker is done with it
        self._adopt(collecting.total, images, recorder, request)

    @Slot(int)
    def _forget(self, job: int, *_: Any) -> None:
        self._jobs.pop(job, None)

    def _adopt(self, total: int, images: dict, recorder: StepRecorder | None, request: Any) -> None:
        kept: dict[int, tuple[QImage, Any]] = {}
        used = 0
        for step in sorted(images):
            size = images[step][0].sizeInBytes()
            if used + size > self.max_bytes:
                break
            kept[step] = images[step]
            used += size
        last = max(kept, default=0)
        self.note = f"Previews kept up to step {last} ({self.max_bytes >> 20} MiB)." if (
            len(kept) < len(images)
        ) else ""  # fmt: skip
        self.total, self.images, self.recorder, self.request = total, kept, recorder, request
        self.changed.emit()
