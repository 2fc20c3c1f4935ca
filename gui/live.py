"""Live mode: after every finished edit the canvas is regenerated (img2img, a fixed seed, the
Live strength, few steps) and the result shown beside the canvas, until the user applies it.

A model object (no widgets), beside the GenerationController and submitting through it, so Live
shares the one worker. At most one Live job runs and one edit waits: a newer edit replaces the
waiting one (the request is built from the canvas only when a job starts), and a running job
that an edit made stale is cancelled at its next step. Scheduling follows Krita AI Diffusion's
rule: when generations are slow (> 1.5 s) wait 0.25 s after an edit, so a quick series of
strokes starts one job, not several; never wait more than 3 s. Live results are not saved; the
one the user applies is written with its metadata then.

The document is reached only through callables and a signal given to the constructor
(`edited`, `add_layer`, `canvas_image`), so the wiring is one line each (see live_view.py).
"""

from __future__ import annotations

import hashlib
import math
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QImage

from pipeline import BrushworkError, GeneratedImage, GenerationRequest, ImageNotSavedError, Mode
from pipeline.canvas_size import scaled_to
from pipeline.fields import SEED_LIMIT
from pipeline.live_preset import DEFAULT, describe
from pipeline.saving import UnsavedImage, save_later

from .generation import GenerationController

GRACE_S = 0.25  # wait after an edit when generations are slow …
SLOW_S = 1.5  # … i.e. when they take longer than this on average
MAX_WAIT_S = 3.0  # never wait longer than this after the first edit not yet generated
NEARLY_DONE = 0.5  # of the usual job's time: a stale job this far along runs on (nearly_done)
PROMPT_PAUSE_S = 0.6  # a prompt counts as edited once typing pauses this long
WAITS_FOR_GENERATION = "Live waits for the running generation; it starts when that has finished."


class Connectable(Protocol):
    def connect(self, slot: Callable[..., Any]) -> Any: ...


class LiveScheduler:
    """When the next Live job may start: the timing rules only (the clock is injectable)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.pending = False  # an edit not yet sent to a job
        self._first = self._last = 0.0  # the first and the last edit not yet sent
        self._pause = 0.0  # the last edit's own minimum pause (typing a prompt)
        self._started: float | None = None
        self._durations: deque[float] = deque(maxlen=5)

    def edit(self, pause: float = 0.0) -> None:
        now = self.clock()
        if not self.pending:
            self.pending, self._first = True, now
        self._last, self._pause = now, pause

    def again(self) -> None:
        """A job ended without a result for a reason other than a newer edit (a generation
        took the worker): the canvas it was to show still waits, without delay."""
        if not self.pending:
            self.pending, self._pause = True, 0.0
            self._first = self._last = -math.inf

    @property
    def slow(self) -> bool:
        return bool(self._durations) and sum(self._durations) / len(self._durations) > SLOW_S

    def wait(self) -> float:
        """Seconds until a job may start for the pending edit (0: now)."""
        grace = max(self._pause, GRACE_S if self.slow else 0.0)
        ready = min(self._last + grace, self._first + MAX_WAIT_S)
        return max(0.0, ready - self.clock())

    def started(self) -> None:
        self.pending, self._started = False, self.clock()

    def nearly_done(self) -> bool:
        """The running job has run at least NEARLY_DONE of the usual job's time: its result,
        a moment away, is worth showing even if an edit made it stale. Cancelling every job at
        the next stroke showed nothing new while the strokes came faster than the jobs took."""
        if self._started is None or not self._durations:
            return False
        usual = sum(self._durations) / len(self._durations)
        return self.clock() - self._started >= NEARLY_DONE * usual

    def finished(self) -> None:
        """A job delivered its result: its time counts toward `slow`."""
        if self._started is not None:
            self._durations.append(self.clock() - self._started)
        self._started = None


class LiveController(QObject):
    active_changed = Signal(bool)
    previewed = Signal(QImage)  # a step preview of the running Live job
    result_shown = Signal(QImage)  # a finished Live result, at the canvas size
    status = Signal(str)  # the Live view's one line
    _saved = Signal(object, str)  # (from the saving thread) path or None, error message

    def __init__(
        self,
        controller: GenerationController,
        canvas_image: Callable[[], np.ndarray],
        request_fields: Callable[[], dict[str, Any]],
        edited: Connectable,
        add_layer: Callable[[np.ndarray, str], object],
        output_dir: Callable[[], Path],
        *,
        complete: Callable[[GenerationRequest], GenerationRequest] = lambda request: request,
        clock: Callable[[], float] = time.monotonic,
        parent: QObject | None = None,
    ) -> None:
        """`canvas_image()`: the flattened canvas (H×W×3 uint8); `request_fields()`: prompt,
        sampler, CFG… as the panel has them; `edited`: emitted after every finished edit;
        `add_layer(pixels, name)`: puts an applied result on the canvas as one undo step;
        `complete(request)`: what the window adds to every request (LoRA list, ControlNets)."""
        super().__init__(parent)
        self.controller = controller
        self._canvas_image, self._fields, self._complete = canvas_image, request_fields, complete
        self._add_layer, self._output_dir = add_layer, output_dir
        self.scheduler = LiveScheduler(clock)
        self.active = False
        self.strength = DEFAULT.strength
        self.seed = secrets.randbelow(SEED_LIMIT)  # fixed, so only the edits change the result
        self.running_job = 0
        self.cancelled_jobs = 0  # stale jobs cancelled (the benchmark reports it per result)
        self.result: GeneratedImage | None = None
        self.result_pixels: np.ndarray | None = None  # the result at the canvas size
        self._running_key: str | None = None
        self._shown_key: str | None = None
        self._last_shown = clock()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._kick)
        self._edit_timer = QTimer(self)  # one turn of the event loop after an edit
        self._edit_timer.setSingleShot(True)
        self._edit_timer.setInterval(0)
        self._edit_timer.timeout.connect(self._after_edit)
        edited.connect(self._on_edit)
        controller.live_ended.connect(self._on_ended)
        controller.previewed.connect(self._on_preview)
        controller.running_changed.connect(self._on_generation_running)
        self._saved.connect(self._on_saved, Qt.ConnectionType.QueuedConnection)

    # --- commands ------------------------------------------------------------------------------

    def set_active(self, active: bool) -> None:
        if active == self.active:
            return
        self.active = active
        self.active_changed.emit(active)
        if not active:
            self._timer.stop()
            self._edit_timer.stop()
            self.scheduler.pending = False
            if self.running_job:
                self.controller.worker.cancel(self.running_job)
            self.status.emit("Live is off.")
            return
        self._last_shown = self.scheduler.clock()
        self.scheduler.again()  # the canvas as it is now, at once
        if self.controller.generating:
            self.status.emit(WAITS_FOR_GENERATION)
            self.controller.message.emit(WAITS_FOR_GENERATION)
        self._kick()

    def set_strength(self, strength: float) -> None:
        """The Live strength (0 < s ≤ 1); a change regenerates like an edit."""
        self.strength = min(max(float(strength), 0.01), 1.0)
        self._on_edit()

    def edit_prompt(self, *_args: object) -> None:
        """A prompt keystroke: regenerates once typing pauses."""
        self._edited(PROMPT_PAUSE_S)

    def apply(self) -> bool:
        """Puts the shown result on the canvas as a new layer, then writes it with its
        metadata in the background (added to history once written)."""
        if self.result is None or self.result_pixels is None:
            self.status.emit("No Live result to apply yet: turn Live on and paint.")
            return False
        result = self.result
        self._add_layer(self.result_pixels, f"Live: {result.request.prompt[:40]}")
        if isinstance(result, UnsavedImage):
            folder = self._output_dir()
            threading.Thread(target=self._save, args=(folder, result), name="live-save").start()
        return True

    # --- scheduling ----------------------------------------------------------------------------

    def _on_edit(self, *_args: object) -> None:  # no @Slot: `edited` may carry arguments
        self._edited(0.0)

    def _edited(self, pause: float) -> None:
        """Notes the edit; the rest runs in its own turn of the event loop (`_after_edit`):
        inside the mouse release that ended a stroke, reading the canvas and starting a job
        held the GUI thread ~8 ms longer (issue 18's stall target)."""
        if not self.active:
            return
        self.scheduler.edit(pause)
        self._edit_timer.start()

    @Slot()
    def _after_edit(self) -> None:
        if not self.active:
            return
        prepared = None  # built only when needed: while a slow job runs, no start may follow
        if self.running_job and not self.scheduler.nearly_done():
            prepared = self._prepare()
            if self._running_is_stale(prepared):
                self.controller.worker.cancel(self.running_job)
        self._try_start(prepared)

    def _prepare(self) -> tuple[GenerationRequest, str] | BrushworkError:
        """The request for the canvas as it is now and its key, or why there is none."""
        try:
            request = self._request()
        except BrushworkError as exc:
            return exc
        return request, _key(request)

    def _running_is_stale(self, prepared: tuple[GenerationRequest, str] | BrushworkError) -> bool:
        """The canvas or settings changed since the running job started, and a result was shown
        recently (else it runs on: a result at least every few seconds while painting on)."""
        if self.scheduler.clock() - self._last_shown >= MAX_WAIT_S:
            return False
        if isinstance(prepared, BrushworkError):
            return True
        return prepared[1] != self._running_key  # a mask stroke changes nothing

    @Slot()
    def _kick(self) -> None:
        self._try_start(None)

    def _try_start(self, prepared: tuple[GenerationRequest, str] | BrushworkError | None) -> None:
        """Starts the pending edit's job if the rules allow it now, else sets the timer;
        `prepared`: the request already built in this turn of the event loop, if any."""
        self._timer.stop()
        if not self.active or self.running_job or not self.scheduler.pending:
            return
        if self.controller.generating:
            self.status.emit(WAITS_FOR_GENERATION)
            return  # _on_generation_running starts it
        wait = self.scheduler.wait()
        if wait > 0:
            self._timer.start(math.ceil(wait * 1000))
            return
        self._start(prepared or self._prepare())

    def _start(self, prepared: tuple[GenerationRequest, str] | BrushworkError) -> None:
        if isinstance(prepared, BrushworkError):
            self.scheduler.started()  # nothing to run until the next edit
            self.status.emit(f"Live cannot run: {prepared}")
            return
        request, key = prepared
        if key == self._shown_key:  # e.g. a mask stroke: the canvas is what is shown
            self.scheduler.started()
            return
        job = self.controller.run_live(request)
        if not job:
            return
        self.scheduler.started()
        self.running_job, self._running_key = job, key
        self.status.emit(f"Live: generating ({describe(request)})…")

    def _request(self) -> GenerationRequest:
        fields = {**self._fields(), "model": self.controller.model}
        fields.update(steps=DEFAULT.steps, strength=self.strength, seed=self.seed, batch_size=1)
        image = self._canvas_image()
        return self._complete(GenerationRequest(**fields, mode=Mode.IMG2IMG, init_image=image))

    @Slot(bool)
    def _on_generation_running(self, running: bool) -> None:
        if not running:
            QTimer.singleShot(0, self._kick)  # after the queue started its next job, if any

    # --- results -------------------------------------------------------------------------------

    @Slot(int, QImage, object)
    def _on_preview(self, job: int, image: QImage, _region: object) -> None:
        if job and job == self.running_job:
            self.previewed.emit(image)

    @Slot(int, object, str)
    def _on_ended(self, job: int, results: list[GeneratedImage] | None, error: str) -> None:
        if job != self.running_job:
            return
        self.running_job = 0
        if results:
            self.scheduler.finished()
            self._show(results[0])
        elif error:
            self.set_active(False)
            self.status.emit(f"Live stopped: {error}")
            self.controller.error.emit(f"Live stopped: {error}")
            return
        else:
            self.cancelled_jobs += 1
            self.scheduler.again()
        self._kick()

    def _show(self, result: GeneratedImage) -> None:
        canvas = result.request.init_image
        height, width = canvas.shape[:2] if canvas is not None else result.image.shape[:2]
        self.result = result
        self.result_pixels = scaled_to(result.image, (width, height))
        self._shown_key, self._last_shown = self._running_key, self.scheduler.clock()
        from .images import array_to_qimage

        self.result_shown.emit(array_to_qimage(self.result_pixels))
        self.status.emit(f"Live: {describe(result.request)} · Apply puts it on a new layer")

    def _save(self, folder: Path, result: UnsavedImage) -> None:
        """On its own thread: writing a PNG must not stall painting."""
        try:
            path = save_later(folder, result).path
            self._saved.emit(path, "")
        except ImageNotSavedError as exc:
            where = f" A copy is in {exc.fallback}." if exc.fallback else ""
            self._saved.emit(None, f"The applied Live result is on the canvas but not saved: "
                             f"{exc}{where}")  # fmt: skip
        except Exception as exc:  # a disk error must never take the app down
            self._saved.emit(None, f"The applied Live result is on the canvas but not saved: {exc}")

    @Slot(object, str)
    def _on_saved(self, path: Path | None, error: str) -> None:
        if path is None:
            self.controller.error.emit(error)
            return
        self.controller.images_added.emit([path])
        self.controller.message.emit(f"Live result applied as a layer and saved as {path.name}")


def _key(request: GenerationRequest) -> str:
    """What a Live job's result depends on: the canvas pixels and every request value."""
    digest = hashlib.blake2b(digest_size=16)
    image = request.init_image
    if image is not None:
        digest.update(repr(image.shape).encode())
        digest.update(np.ascontiguousarray(image).tobytes())
    digest.update(repr(sorted(request.to_metadata().items())).encode())
    return digest.hexdigest()
