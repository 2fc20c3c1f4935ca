"""One "Upscale…" job of the app: an upscale model (a spandrel model file, or one of diffusers'
upscaler pipelines), then optionally a tiled diffusion refine.

What the GUI's worker runs (on its thread) for Image → Upscale…; headless, so tests and other
front ends run the same thing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import diffusion_upscalers as diffusion
from .request import GenerationRequest
from .upscale import cached_upscaler, check_factor, check_output_size

# phase ("upscale": tiles, "download": KiB, "steps": denoising steps, "refine": tiles), done, total
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True, eq=False)
class UpscaleOutcome:
    """The upscaled image and what was done to make it, for the user to read afterwards."""

    image: np.ndarray
    factor: int
    upscaler: str
    upscale_tiles: int
    refine_tiles: int = 0  # 0: no refine
    steps: int = 0  # a diffusers upscaler's denoising steps (it does not tile)

    def summary(self) -> str:
        """`Upscaled ×4 with NAME (2 tiles), refined in 9 tiles` (or `(20 steps)`)."""
        work = f"{self.steps} steps" if self.steps else _tiles(self.upscale_tiles)
        text = f"Upscaled ×{self.factor} with {self.upscaler} ({work})"
        if self.refine_tiles:
            text += f", refined in {_tiles(self.refine_tiles)}"
        return text


def _tiles(count: int) -> str:
    return "1 tile" if count == 1 else f"{count} tiles"


@dataclass(frozen=True, eq=False)
class UpscaleJob:
    """`refine`: prompt, strength, steps, seed and model of the refine (None: no refine); its
    size is replaced by the model's native size, the tile size."""

    image: np.ndarray
    factor: int
    upscaler: str | None = None  # None: the bundled upscaler
    folder: Path | None = None  # the user's upscalers
    refine: GenerationRequest | None = None
    overlap: int | None = None  # px between refine tiles; None: a quarter of a tile
    # For diffusers' upscalers, which are guided by a prompt and run steps:
    prompt: str = ""
    steps: int = diffusion.DEFAULT_STEPS
    seed: int = 0

    def __post_init__(self) -> None:  # refused here, before the job is queued
        check_factor(self.factor)
        check_output_size(self.image.shape[1], self.image.shape[0], self.factor)


def run_upscale_job(
    engine: Any, job: UpscaleJob, progress: Progress, cancel: threading.Event
) -> UpscaleOutcome:
    allow_pickle, device = getattr(engine, "allow_pickle", False), getattr(engine, "device", "cpu")
    counted = _Counter(progress)
    where = diffusion.find_diffusion_upscaler(job.upscaler, job.folder)
    if where is not None:
        outcome = _diffusion_upscale(job, where, device, counted, cancel)
    else:
        upscaler = cached_upscaler(job.upscaler, job.folder, allow_pickle, device)
        result = upscaler.upscale(job.image, job.factor, counted.phase("upscale"), cancel)
        tiles = counted.totals.get("upscale", 0)
        outcome = UpscaleOutcome(result, job.factor, upscaler.name, tiles)
    if job.refine is None:
        return outcome
    from .tiled_refine import refine_tiled

    tile = engine.load(job.refine.model).native_size or 512
    request = job.refine.with_resolved_seed().replace(width=tile, height=tile)
    overlap = tile // 4 if job.overlap is None else job.overlap
    refined = refine_tiled(engine, outcome.image, request, overlap, counted.phase("refine"), cancel)
    return replace(outcome, image=refined, refine_tiles=counted.totals.get("refine", 0))


def _diffusion_upscale(
    job: UpscaleJob, where: str, device: str, counted: _Counter, cancel: threading.Event
) -> UpscaleOutcome:
    height, width = job.image.shape[:2]
    scale = diffusion.known_scale(where)
    if scale is not None:  # a local folder or a cached download: refused before loading
        diffusion.check_input_size(width, height, job.factor, scale)
    download = counted.phase("download")
    upscaler = diffusion.load_diffusion_upscaler(
        where, device, lambda done, total: download(done // 1024, max(total // 1024, 1)), cancel
    )
    result = upscaler.upscale(
        job.image, job.factor, job.prompt, counted.phase("steps"), cancel, job.steps, job.seed
    )
    return UpscaleOutcome(result, job.factor, upscaler.name, 0, steps=job.steps)


class _Counter:
    """Passes progress on and remembers each phase's total, for the outcome's summary."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.totals: dict[str, int] = {}

    def phase(self, name: str) -> Callable[[int, int], None]:
        def report(done: int, total: int) -> None:
            self.totals[name] = total
            self.progress(name, done, total)

        return report
