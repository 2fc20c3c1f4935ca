"""Brushwork's headless engine: requests, samplers, model loading, generation, metadata.

Importing this package is cheap and never imports torch or diffusers: the GUI shows its window
first and loads the heavy parts on its worker thread. `Engine` is imported on first use.
"""

from __future__ import annotations

from importlib import metadata as _metadata
from typing import TYPE_CHECKING, Any

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
