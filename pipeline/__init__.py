"""Brushwork's headless engine: requests, samplers, model loading, generation, metadata.

Importing this package is cheap and never imports torch or diffusers: the GUI shows its window
first and loads the heavy parts on its worker thread. `Engine` is imported on first use.
"""

from __future__ import annotations

import os as _os
from importlib import metadata as _metadata
from typing import TYPE_CHECKING, Any

# OpenMP's threads spin while they wait for work by default. On a desktop the GUI thread and
# other programs share the cores, and spinning threads steal the time the working ones need:
# with one other busy process on 2 cores, a 6-step 64² img2img took 0.96-1.7 s median (worst
# 3.6-9.0 s) spinning, 0.27-0.29 s (worst 0.33-0.40 s) passive (bench/omp_wait.py). Set before
# torch is first imported, which reads it once; a user's own setting wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

try:  # pyproject.toml's version is the only source; installs and the frozen app carry it
    __version__ = _metadata.version("brushwork")
except _metadata.PackageNotFoundError:  # a source tree that was never pip-installed
    __version__ = "0+unknown"

from .errors import (
    BrushworkError,
    Cancelled,
    ImageInputError,
    ImageNotSavedError,
    ModelError,
    OutputError,
    RequestError,
)
from .metadata import read_image_info
from .models import (
    ModelSource,
    SourceKind,
    bundled_model_dir,
    parse_model_source,
    resources_dir,
)
from .outputs import default_output_dir
from .request import GenerationRequest, InpaintArea, Mode, item_seed
from .results import GeneratedImage, StepUpdate
from .samplers import DEFAULT_SAMPLER, SAMPLERS, Sampler, get_sampler

if TYPE_CHECKING:
    from .engine import Engine

_LAZY = {"Engine"}

__all__ = [
    "DEFAULT_SAMPLER",
    "SAMPLERS",
    "BrushworkError",
    "Cancelled",
    "Engine",
    "GeneratedImage",
    "GenerationRequest",
    "ImageInputError",
    "ImageNotSavedError",
    "InpaintArea",
    "Mode",
    "ModelError",
    "ModelSource",
    "OutputError",
    "RequestError",
    "Sampler",
    "SourceKind",
    "StepUpdate",
    "__version__",
    "bundled_model_dir",
    "default_output_dir",
    "get_sampler",
    "item_seed",
    "parse_model_source",
    "read_image_info",
    "resources_dir",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import engine

        return getattr(engine, name)
    raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
