"""The generation controller: the queue, the running job, the worker's signals and the results.

It holds no widgets (as Krita AI Diffusion's model holds none): widgets call `enqueue`/`cancel`
and bind to its signals, and it applies a finished result to the document as one undo step,
after the engine has already saved it on disk.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal, Slot
from PySide6.QtGui import QImage

from pipeline import GeneratedImage, GenerationRequest, ImageNotSavedError, Mode, item_seed
from pipeline.canvas_size import scaled_to
from pipeline.imagefiles import open_image

from .document import Document
from .progress_text import bar_format, speed_text
from .worker import GenerationWorker

CANCELLED = "Cancelled"


class JobStore(Protocol):
    """Where waiting jobs are kept, in run order (the queue widget, which users reorder)."""

    def push(self, job_id: int, request: GenerationRequest) -> None: ...
    def pop_next(self) -> tuple[int, GenerationRequest] | None: ...
    def finish(self, job_id: int) -> None: ...
    def waiting_count(self) -> int: ...


class GenerationController(QObject):
    # to the worker (queued: it lives on its own thread)
    submit = Signal(int, object)  # job id, GenerationRequest → worker.run_job
    engine_changed = Signal(object)  # engine factory → worker.replace_engine
    load_requested = Signal(object)  # model → worker.load_model
    # to the widgets
    running_changed = Signal(bool)
    job_started = Signal(int, bool)  # job id, whether the preview is masked (inpaint)
    job_ended = Signal()
    previewed = Signal(int, QImage, object)  # job id, preview, region of the canvas
    progressed = Signal(int, int, str)  # value, maximum, the progress bar's format
    progress_text = Signal(str)
    model_text = Signal(str)
    model_ready = Signal(str, object)  # name, the model's own field values (size, sampler…)
    images_added = Signal(list)  # paths of new images on disk, in the order history adds them
    seed_used = Signal(object)  # an int up to 2³², beyond a Qt int
    result_applied = Signal(bool)  # a result is on the canvas; True: it is saved on disk too
    message = Signal(str)  # for the status bar
    error = Signal(str)
    job_location = Signal(str)  # the server the running job runs on ("" : local or none)
    # Live jobs (gui/live.py): job id, its unsaved results or None, the error message ("": none)
    live_ended = Signal(int, object, str)

    def __init__(
        self,
        worker: GenerationWorker,
        doc: Document,
        queue: JobStore,
        output_dir: Path,
        model: str | None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.worker = worker
        self.doc = doc
        self.queue = queue
        self.output_dir = Path(output_dir)
        self.model = model
        self.running_job = 0
        self.last_results: list[GeneratedImage] = []
        self.results_as_layer = True  # Settings → "Results go to": a new layer or the image
        self._next_job = 1
        self._bar_format = ""  # the running job's progress bar format (progress_text.py)
        self.live_job = 0  # the running job is a Live one: no history, no save, no progress bar
        self._connect_worker()

    def _connect_worker(self) -> None:
        self.submit.connect(self.worker.run_job)
        self.engine_changed.connect(self.worker.replace_engine)
        self.load_requested.connect(self.worker.load_model)
        # Worker signals arrive queued and run here, on the GUI thread (bound methods of a
        # GUI-thread object; a lambda would run on the worker thread).
        self.worker.status.connect(self._on_status)
        self.worker.model_loaded.connect(self._on_model_loaded)
        self.worker.progressed.connect(self._on_progress)
        self.worker.running_on.connect(self._on_running_on)
        self.worker.previewed.connect(self._on_preview)
        self.worker.finished.connect(self._on_finished)
        self.worker.failed.connect(self._on_failed)
        self.worker.cancelled.connect(self._on_cancelled)
        self.worker.unsaved.connect(self._on_unsaved)
        self.worker.downloading.connect(self._on_download)

    # --- commands ------------------------------------------------------------------------------

    def load_model(self) -> None:
        self.model_text.emit("Model: loading…")
        self.load_requested.emit(self.model)

    def enqueue(self, request: GenerationRequest, count: int) -> None:
        """Queues `count` jobs with successive seeds; starts one if nothing is running."""
        request = request.with_resolved_seed()
        for k in range(count):
            seed = item_seed(request.seed, k * request.batch_size)
            self.queue.push(self._next_job, request.replace(seed=seed))
            self._next_job += 1
        self._start_next()

    def run_live(self, request: GenerationRequest) -> int:
        """Starts a Live job (gui/live.py) now and returns its id; 0 while a generation runs or
        waits: Live never delays one (a generation queued during a Live job cancels it)."""
        if self.running_job or self.queue.waiting_count():
            return 0
        job_id = self.live_job = self.running_job = self._next_job
        self._next_job += 1
        self.worker.mark_live(job_id)
        self.submit.emit(job_id, request)
        return job_id

    def _end_live(self, job: int, results: list[GeneratedImage] | None, error: str = "") -> bool:
        """Ends the running Live job quietly (no progress text, no job_ended): False for any
        other job."""
        if not job or job != self.live_job:
            return False
        self.live_job = self.running_job = 0
        self.live_ended.emit(job, results, error)
        QTimer.singleShot(0, self._start_next)
        return True

    @property
    def generating(self) -> bool:
        """A generation (or upscale) runs or waits: not a Live job."""
        busy = self.running_job and self.running_job != self.live_job
        return bool(busy or self.queue.waiting_count())

    @Slot()
    def cancel(self) -> None:
        if self.live_job:
            self.worker.cancel(self.live_job)  # quietly: Live says what it does in its view
        elif self.running_job:
            self.worker.cancel(self.running_job)
            self.progress_text.emit("Cancelling…")

    def parameters_of_canvas(self) -> dict[str, str]:
        """The text chunks of the last result, if the canvas still shows exactly that result."""
        if not self.last_results:
            return {}
        last = self.last_results[0]
        with open_image(last.path) as png:
            chunks = dict(png.text)
        shown = self._canvas_sized(last.image, last.request.mode)
        return chunks if np.array_equal(shown, self.doc.image) else {}

    # --- the running job -----------------------------------------------------------------------

    def _start_next(self) -> None:
        if self.running_job:
            if self.live_job and self.queue.waiting_count():  # Live gives way at its next step
                self.worker.cancel(self.live_job)
            return
        job = self.queue.pop_next()
        if job is None:
            return
        job_id, request = job
        self.running_job = job_id
        self.job_started.emit(job_id, request.mode is Mode.INPAINT)
        self._bar_format = bar_format(request)
        self.progressed.emit(0, request.steps, self._bar_format)
        self.progress_text.emit("Starting…")
        self.running_changed.emit(True)
        self.submit.emit(job_id, request)

    def start_other_job(self, bar_format: str, text: str) -> int:
        """A job that is not a generation (Image → Upscale…): its id; it shares the progress
        bar, Cancel and the worker's signals, and the queue waits until `_end_job`."""
        if self.live_job:  # queued behind the Live job on the worker thread, which gives way
            live, self.live_job = self.live_job, 0  # its end is then ignored: this job runs
            self.worker.cancel(live)
            self.live_ended.emit(live, None, "")
        job_id = self._next_job
        self._next_job += 1
        self.running_job = job_id
        self._bar_format = bar_format
        self.progressed.emit(0, 1, bar_format)
        self.progress_text.emit(text)
        self.running_changed.emit(True)
        return job_id

    def set_bar_format(self, job: int, bar_format: str) -> None:
        """A running other job's bar now counts something else (its next phase)."""
        if job == self.running_job:
            self._bar_format = bar_format

    def end_other_job(self, job: int, label: str) -> bool:
        """Ends a `start_other_job` job; False when it is not the running one (cancelled)."""
        return self._end_job(job, label)

    def _end_job(self, job: int, label: str) -> bool:
        if job != self.running_job:
            return False
        self.running_job = 0
        self.queue.finish(job)
        self.job_location.emit("")
        self.job_ended.emit()
        self.running_changed.emit(False)
        self.progress_text.emit(label)
        QTimer.singleShot(0, self._start_next)  # after this job's result is applied
        return True

    def _canvas_sized(self, image: np.ndarray, mode: Mode) -> np.ndarray:
        """A canvas-mode result at the canvas size (it was generated at the size snapped to 8)."""
        if mode is Mode.TXT2IMG:
            return image
        return scaled_to(image, (self.doc.width, self.doc.height))

    # --- worker signals ------------------------------------------------------------------------

    @Slot(int, str)
    def _on_running_on(self, job: int, url: str) -> None:
        if job == self.running_job:
            self.job_location.emit(f"#{job} runs on {url}")

    @Slot(str)
    def _on_status(self, text: str) -> None:
        if self.live_job:
            return  # "Loading model…", "Generating…" of every Live job would flicker
        (self.progress_text if self.running_job else self.message).emit(text)

    @Slot(str, object)
    def _on_model_loaded(self, name: str, defaults: dict) -> None:
        self.model_text.emit(f"Model: {name}")
        self.model_ready.emit(name, defaults)

    @Slot(int, int, int, float)
    def _on_progress(self, job: int, step: int, total: int, elapsed: float) -> None:
        if job != self.running_job or job == self.live_job:
            return
        self.progressed.emit(step, total, self._bar_format)
        self.progress_text.emit(speed_text(step, elapsed, total))

    @Slot(int, str, object, object)
    def _on_download(self, job: int, text: str, done: int, total: int) -> None:
        if job != self.running_job:
            return
        # QProgressBar holds ints: show kilobytes so multi-gigabyte models fit.
        self.progressed.emit(done // 1024, max(total // 1024, 1), "%p%")
        self.progress_text.emit(text)

    @Slot(int, QImage, object)
    def _on_preview(self, job: int, image: QImage, region: object) -> None:
        self.previewed.emit(job, image, region)

    @Slot(int, object)
    def _on_finished(self, job: int, results: list[GeneratedImage]) -> None:
        if self._end_live(job, results) or not self._end_job(job, "Done"):
            return
        self.last_results = results
        first = results[0]
        canvas_image = self._canvas_sized(first.image, first.request.mode)
        self._apply(canvas_image, first)
        self.doc.mark_stored()  # the result is on disk: nothing for Quit to warn about
        self.seed_used.emit(first.seed)
        self.images_added.emit([r.path for r in reversed(results)])
        self.result_applied.emit(True)  # saved with the session: a crash from here loses nothing
        names = ", ".join(r.path.name for r in results)
        notes = " ".join(first.notes)  # e.g. an out-of-memory retry or a truncated prompt
        message = f"Saved {names} in {first.path.parent} · seed {first.seed}"
        self.message.emit(f"{message} · {notes}" if notes else message)

    def _apply(self, image: np.ndarray, result: GeneratedImage) -> None:
        """The result onto the canvas as one undo step: a new layer, so the painting below is
        never lost (or in place of the image layer, as the user chose)."""
        name = f"Result {result.seed}: {result.request.prompt[:30]}".strip().rstrip(":")
        self.doc.apply_result(image, name, as_layer=self.results_as_layer)

    @Slot(int, str)
    def _on_failed(self, job: int, message: str) -> None:
        if self._end_live(job, None, message):
            return
        if job == 0 or self._end_job(job, "Failed"):
            self.error.emit(message)

    @Slot(int, object, str)
    def _on_unsaved(self, job: int, error: ImageNotSavedError, message: str) -> None:
        """The disk refused the result (read-only, full): keep it on the canvas, say so."""
        if not self._end_job(job, "Not saved"):
            return
        self.images_added.emit([result.path for result in error.saved])
        first = error.unsaved[0]
        # Written to the temp folder (with parameters): Save As can carry them over.
        self.last_results = list(error.unsaved) if error.fallback else []
        self._apply(self._canvas_sized(first.image, first.request.mode), first)
        self.seed_used.emit(first.seed)
        self.result_applied.emit(False)
        self.error.emit(f"{message} {_where_unsaved_images_are(error)}")

    @Slot(int)
    def _on_cancelled(self, job: int) -> None:
        if self._end_live(job, None):
            return
        if self._end_job(job, CANCELLED):
            self.message.emit(CANCELLED)


def _where_unsaved_images_are(error: ImageNotSavedError) -> str:
    count = len(error.unsaved)
    if error.fallback:
        what = "The image was" if count == 1 else f"The {count} images were"
        return (
            f"{what} written to {error.fallback} instead (the first is on the canvas): use "
            "File → Save image as… to keep it, or choose another output folder in Settings."
        )
    lost = f" The other {count - 1} images of the batch could not be kept." if count > 1 else ""
    return (
        "The image is on the canvas but not saved: use File → Save image as… to keep it, or "
        f"choose another output folder in Settings.{lost}"
    )


def format_progress(step: int, total: int, elapsed: float) -> str:
    """`Step 3/20 · 4.2 it/s · ETA 0:04` (s/it when slower than one step a second)."""
    if step <= 0 or elapsed <= 0:
        return f"Step {step}/{total}"
    rate = step / elapsed
    speed = f"{rate:.1f} it/s" if rate >= 1 else f"{1 / rate:.1f} s/it"
    remaining = round((total - step) / rate)
    return f"Step {step}/{total} · {speed} · ETA {remaining // 60}:{remaining % 60:02d}"
