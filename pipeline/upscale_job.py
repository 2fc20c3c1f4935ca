"""One "Upscale…" job of the app: an upscale model, then optionally a tiled diffusion refine.

What the GUI's worker runs (on its thread) for Image → Upscale…; headless, so tests and other
front ends run the same thing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .request import GenerationRequest
from .upscale import cached_upscaler, check_factor, check_output_size

Progress = Callable[[str, int, int], None]  # phase ("upscale", "refine"), done, total


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

    def __post_init__(self) -> None:  # refused here, before the job is queued
        check_factor(self.factor)
        check_output_size(self.image.shape[1], self.image.shape[0], self.factor)


def run_upscale_job(
    engine: Any, job: UpscaleJob, progress: Progress, cancel: threading.Event
) -> np.ndarray:
    allow_pickle, device = getattr(engine, "allow_pickle", False), getattr(engine, "device", "cpu")
    upscaler = cached_upscaler(job.upscaler, job.folder, allow_pickle, device)
    result = upscaler.upscale(job.image, job.factor, lambda d, n: progress("upscale", d, n), cancel)
    if job.refine is None:
        return result
    from .tiled_refine import refine_tiled

    tile = engine.load(job.refine.model).native_size or 512
    request = job.refine.with_resolved_seed().replace(width=tile, height=tile)
    overlap = tile // 4 if job.overlap is None else job.overlap
    return refine_tiled(
        engine, result, request, overlap, lambda d, n: progress("refine", d, n), cancel
    )
