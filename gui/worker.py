"""The one object that talks to the engine. It lives in a QThread; all heavy work happens there.

Model loading and generation are serialised on this thread. The GUI thread calls `cancel()`
directly (a queued call would wait until the running job ended); everything else arrives as
queued slot calls, and results leave as signals, so no widget is touched from this thread.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QImage

from pipeline import (
    BrushworkError,
    Cancelled,
    GenerationRequest,
    ImageNotSavedError,
    SourceKind,
    StepUpdate,
    parse_model_source,
)
from pipeline.downloads import (
    DownloadProgress,
    download_model,
    format_progress,
    is_downloaded,
    is_offline,
)
from pipeline.speed import SpeedOptions

from .images import array_to_qimage
from .settings import Settings

log = logging.getLogger(__name__)
BRANCH_MEMORY = 256 * 2**20  # the last generation's latents kept for "Branch from step k"


class EngineLike(Protocol):
    def load(self, model: str | None = None) -> Any: ...

    def run(
        self,
        request: GenerationRequest,
        on_step: Callable[[StepUpdate], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> list[Any]: ...


def engine_factory(output_dir: Path, settings: Settings | None = None) -> Callable[[], EngineLike]:
    """Makes the engine on first use, on the worker thread (that is where torch is imported)."""
    settings = settings or Settings()
    options = {
        "device": settings.device,
        "precision": settings.precision,
        "memory_savings": settings.memory_savings,
        "previews": settings.previews,
        "allow_pickle": settings.allow_pickle,
        "speed": SpeedOptions.from_dict(settings.speed),
    }

    if settings.backend == "servers":
        servers, checkpoint = list(settings.servers), settings.server_checkpoint

        def create_remote() -> EngineLike:
            from .remote_backend import RemoteBackend

            return RemoteBackend(servers, checkpoint, output_dir)

        return create_remote

    def create() -> EngineLike:
        from pipeline import Engine
        from pipeline.speed import configure_threads

        engine = Engine(output_dir, **options)
        configure_threads(engine.device)  # physical cores (speed.py)
        return engine

    return create


class GenerationWorker(QObject):
    status = Signal(str)
    # Name, and the model's own field values: {"width", "height"} (native size), plus
    # "sampler"/"guidance" when its card recommends them ({}: not known yet).
    model_loaded = Signal(str, object)
    progressed = Signal(int, int, int, float)  # job, step, total, seconds since start
    previewed = Signal(int, QImage, object)  # job, x0 preview, region (x, y, w, h) or None
    finished = Signal(int, object)  # job, list of GeneratedImage (already on disk)
    failed = Signal(int, str)  # job (0: model loading), message for the user
    cancelled = Signal(int)
    running_on = Signal(int, str)  # job, the URL of the server it runs on (remote backend)
    unsaved = Signal(int, object, str)  # job, ImageNotSavedError (images kept in memory), message
    # Byte counts as Python ints: a C int overflows at 2 GiB, smaller than most models.
    downloading = Signal(int, str, object, object)  # job, progress text, done, total bytes
    upscaled = Signal(int, object)  # job, pipeline.upscale_job.UpscaleOutcome (image not saved)
    upscale_phase = Signal(int, str)  # job, the phase that starts ("upscale", "refine", "steps")
    recorded = Signal(int, object)  # job, its StepRecorder (latents per step), before finished

    def __init__(self, engine_factory: Callable[[], EngineLike]) -> None:
        super().__init__()
        self._engine_factory = engine_factory
        self._engine: EngineLike | None = None
        self._lock = threading.Lock()
        self._current_job = 0
        self._cancel = threading.Event()
        self._cancelled_jobs: set[int] = set()
        self._live_jobs: set[int] = set()
        self._reported: tuple[str, dict] | None = None  # the model last sent by model_loaded

    def cancel(self, job_id: int) -> None:
        """Thread-safe: cancels `job_id` whether it is running now or still queued."""
        with self._lock:
            self._cancelled_jobs.add(job_id)
            if job_id == self._current_job:
                self._cancel.set()

    def _report_model(self, loaded: Any, again: bool = False) -> None:
        """Tells the window which model is loaded: after a preload always, after a job's load
        only if it changed. The window's answer (model card, few-step preset, size rules) took
        ~8 ms of the GUI thread, once per Live job (issue 18's stall target)."""
        report = (_loaded_text(loaded), dict(loaded.defaults))
        if again or report != self._reported:
            self._reported = report
            self.model_loaded.emit(*report)

    def mark_live(self, job_id: int) -> None:
        """Thread-safe, before `run_job(job_id, …)` is queued: a Live job (gui/live.py), run with
        the model's Live preset and not saved."""
        with self._lock:
            self._live_jobs.add(job_id)

    def _live_options(
        self, job_id: int, engine: EngineLike, loaded: Any, request: GenerationRequest
    ) -> dict[str, Any]:
        with self._lock:
            if job_id not in self._live_jobs:
                return {}
            self._live_jobs.discard(job_id)
        if "save" not in inspect.signature(engine.run).parameters:
            raise BrushworkError(
                "Live mode runs on this computer's engine only: this backend saves every image "
                "it makes. Choose Settings → Backends → Local: this computer to use Live."
            )
        from pipeline.live_preset import for_model  # the model's few-step preset, if it has one

        return {"request": for_model(request, loaded), "save": False}

    @Slot(object)
    def replace_engine(self, factory: Callable[[], EngineLike]) -> None:
        """New engine settings: drop the current engine (and its model); the next job makes
        a fresh one. Queued behind any running job, so that job finishes as it started."""
        self._engine_factory = factory
        self._engine = None

    def _engine_or_create(self) -> EngineLike:
        if self._engine is None:
            self.status.emit("Starting the engine…")
            self._engine = self._engine_factory()  # imports torch here, on the worker thread
        return self._engine

    @Slot(object)
    def load_model(self, model: str | None) -> None:
        """Preloads a model; a Hub model that is not downloaded yet waits for the first job,
        where its download shows progress and can be cancelled."""
        try:
            # Only to spot a Hub model here: the engine applies the pickle policy itself.
            source = parse_model_source(model, allow_pickle=True) if model else None
            if source and source.kind is SourceKind.HUB and not is_downloaded(source.location):
                self.model_loaded.emit(f"{source.name} (downloads when you first generate)", {})
                return
            self.status.emit("Loading model…")
            loaded = self._engine_or_create().load(model)
            self._report_model(loaded, again=True)
        except BrushworkError as exc:
            self.failed.emit(0, str(exc))
        except Exception as exc:  # the app must survive anything the ML stack throws
            self.failed.emit(0, _unexpected(exc))

    @Slot(int, object)
    def run_job(self, job_id: int, request: GenerationRequest) -> None:
        def work(cancel: threading.Event) -> None:
            engine = self._engine_or_create()
            if not self._say_where(job_id, engine):  # servers have their own models
                self._download_if_needed(job_id, request.model, cancel)
            self.status.emit("Loading model…")
            loaded = engine.load(request.model)
            self._report_model(loaded)
            self.status.emit("Generating…")
            self._say_downloads(job_id, engine)
            on_step = lambda u: self._step(job_id, u)  # noqa: E731
            live = self._live_options(job_id, engine, loaded, request)  # {} for other jobs
            run_request = live.pop("request", request)
            # Every step's latents, for branching; not for Live's jobs, whose steps would
            # replace the last real generation's in the scrubber.
            recording = {} if live else recording_for(engine)
            results = engine.run(run_request, on_step=on_step, cancel=cancel, **live, **recording)
            if recording:
                self.recorded.emit(job_id, recording["recorder"])
            self.finished.emit(job_id, results)

        self._run_as_job(job_id, work)

    def _say_downloads(self, job_id: int, engine: EngineLike) -> None:
        """TAESD (Settings → Speed) downloads on first use: its progress like a model's."""

        def progress(update: DownloadProgress) -> None:
            text = f"Downloading TAESD: {format_progress(update)}"
            self.downloading.emit(job_id, text, update.done_bytes, update.total_bytes)

        if hasattr(engine, "on_download"):
            engine.on_download = progress

    def _say_where(self, job_id: int, engine: EngineLike) -> bool:
        """A remote backend reports the server it picks for the job; True for one."""
        if not hasattr(engine, "on_server"):
            return False
        engine.on_server = lambda url: self.running_on.emit(job_id, url)
        return True

    @Slot(int, object)
    def run_upscale(self, job_id: int, job: Any) -> None:
        """Image → Upscale… (pipeline.upscale_job): progress per tile, cancel like a job."""
        from pipeline.upscale_job import run_upscale_job

        started = time.perf_counter()

        phases: list[str] = []

        def progress(phase: str, done: int, total: int) -> None:
            if phase not in phases:  # the bar's words change with the phase
                phases.append(phase)
                self.upscale_phase.emit(job_id, phase)
            self.progressed.emit(job_id, done, total, time.perf_counter() - started)

        def work(cancel: threading.Event) -> None:
            result = run_upscale_job(self._engine_or_create(), job, progress, cancel)
            self.upscaled.emit(job_id, result)

        self._run_as_job(job_id, work)

    def _run_as_job(self, job_id: int, work: Callable[[threading.Event], None]) -> None:
        """Runs `work(cancel)` as job `job_id`: cancellable from the GUI thread (also before it
        starts), and every outcome becomes a signal; no exception leaves this thread."""
        with self._lock:
            self._current_job = job_id
            self._cancel = cancel = threading.Event()
            if job_id in self._cancelled_jobs:
                cancel.set()
        try:
            if cancel.is_set():
                raise Cancelled()
            work(cancel)
        except Cancelled:
            self.cancelled.emit(job_id)
        except ImageNotSavedError as exc:
            self.unsaved.emit(job_id, exc, str(exc))
        except BrushworkError as exc:
            self.failed.emit(job_id, str(exc))
        except Exception as exc:  # never let an engine bug take the app down
            self.failed.emit(job_id, _unexpected(exc))
        finally:
            with self._lock:
                self._current_job = 0
                self._cancelled_jobs.discard(job_id)
                self._live_jobs.discard(job_id)

    def _download_if_needed(self, job_id: int, model: str | None, cancel: threading.Event) -> None:
        if model is None or is_offline():
            return
        try:
            source = parse_model_source(model)
        except BrushworkError:
            return  # loading reports the problem with the engine's own message
        if source.kind is not SourceKind.HUB or is_downloaded(source.location):
            return
        self.status.emit(f"Downloading {source.name}…")

        def progress(update: DownloadProgress) -> None:
            text = f"Downloading {source.name}: {format_progress(update)}"
            self.downloading.emit(job_id, text, update.done_bytes, update.total_bytes)

        download_model(source.location, progress, cancel)

    def _step(self, job_id: int, update: StepUpdate) -> None:
        plan = update.memory_plan
        if update.step == 1 and plan is not None and plan.savings:
            self.status.emit(plan.describe())  # say which memory savings this job uses
        self.progressed.emit(job_id, update.step, update.total, update.elapsed)
        if update.preview is not None:  # region: set for inpaint
            self.previewed.emit(job_id, array_to_qimage(update.preview), update.region)


def recording_for(engine: EngineLike) -> dict[str, Any]:
    """{"recorder": a StepRecorder} for an engine that records steps (the local one), else {}."""
    if "recorder" not in inspect.signature(engine.run).parameters:
        return {}
    from pipeline.branching import StepRecorder

    return {"recorder": StepRecorder(max_bytes=BRANCH_MEMORY)}


def _loaded_text(loaded: Any) -> str:
    """The model's name, plus the family detected in a single file: "x (SDXL base checkpoint)"."""
    return f"{loaded.source.name} ({loaded.kind})" if loaded.kind else loaded.source.name


def _unexpected(exc: BaseException) -> str:
    log.error("unexpected error in the worker:\n%s", traceback.format_exc())
    return f"Something went wrong: {type(exc).__name__}: {exc}"
