"""What the engine hands back: step updates and finished images (plain data, no torch)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .memory import MemoryPlan
from .request import GenerationRequest


@dataclass(frozen=True)
class StepUpdate:
    """Sent after every denoising step. `preview` is the first batch item's x0, h×w×3 uint8.

    `region` (x, y, width, height in init-image pixels) is where the preview belongs: set for
    inpaint (the crop for "only masked", the whole image otherwise), None for the other modes,
    whose preview covers the whole output. `memory_plan` is the memory savings this run uses.
    """

    step: int
    total: int
    elapsed: float
    preview: np.ndarray | None
    region: tuple[int, int, int, int] | None = None
    memory_plan: MemoryPlan | None = None


@dataclass(frozen=True)
class GeneratedImage:
    """A finished image; `path` already exists on disk when the caller receives this (except in
    `ImageNotSavedError.unsaved`, where writing it failed).

    `notes` tell the user what the engine did on its own to get this image: memory savings added
    after running out of memory, a float32 VAE retry after NaN output, a truncated prompt.
    `memory_plan` is the memory savings the run ended with; `request` is the request as run
    (seed, size, sampler and CFG filled in).
    """

    path: Path
    image: np.ndarray
    seed: int
    request: GenerationRequest
    notes: tuple[str, ...] = ()
    memory_plan: MemoryPlan | None = None


StepCallback = Callable[[StepUpdate], None]
