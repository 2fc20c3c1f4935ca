"""Writing finished images with their parameters: the last step of every backend.

The local engine and the remote (ComfyUI) backend both end here, so files, metadata and the
fallback when the output folder refuses them are the same whichever machine generated them.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .errors import ImageNotSavedError, OutputError
from .metadata import JSON_KEY, PARAMETERS_KEY, format_parameters, json_chunk
from .outputs import image_stem, write_png
from .request import GenerationRequest, item_seed
from .results import GeneratedImage


def save_all(
    output_dir: Path,
    request: GenerationRequest,
    arrays: list[np.ndarray],
    model_name: str,
    notes: tuple[str, ...] = (),
    run_facts: Mapping[str, Any] | None = None,
) -> list[GeneratedImage]:
    """Writes every image. If the output folder refuses them, they go to a new folder in the
    temp dir instead; if that fails too, they travel in memory with the error. `run_facts` are
    what the backend recorded beyond the request (fields.RUN_FACTS: LoRA hashes, the VAE's name)."""
    facts = dict(run_facts or {})
    saved: list[GeneratedImage] = []
    for k, array in enumerate(arrays):
        try:
            saved.append(save_one(output_dir, request, k, array, model_name, notes, facts))
        except OutputError as exc:
            rest = list(enumerate(arrays[k:], start=k))
            try:
                fallback = Path(tempfile.mkdtemp(prefix="brushwork-unsaved-"))
                kept = [
                    save_one(fallback, request, j, a, model_name, notes, facts) for j, a in rest
                ]
            except (OSError, OutputError):
                fallback, kept = (
                    None,
                    [
                        GeneratedImage(output_dir, a, item_seed(request.seed, j), request, notes)
                        for j, a in rest
                    ],
                )
            raise ImageNotSavedError(str(exc), kept, saved, fallback) from exc
    return saved


def save_one(
    directory: Path,
    request: GenerationRequest,
    index: int,
    image: np.ndarray,
    model_name: str,
    notes: tuple[str, ...] = (),
    run_facts: Mapping[str, Any] | None = None,
) -> GeneratedImage:
    seed = item_seed(request.seed, index)
    # Each file records the parameters that re-make it alone: its own seed, batch size 1.
    meta = {**request.to_metadata(), "seed": seed, "batch_size": 1, **(run_facts or {})}
    chunks = {
        PARAMETERS_KEY: format_parameters(meta, model_name),
        JSON_KEY: json_chunk(meta, model_name, __version__),
    }
    path = write_png(image, directory, image_stem(seed), chunks)
    return GeneratedImage(path, image, seed, request, notes)


@dataclass(frozen=True)
class UnsavedImage(GeneratedImage):
    """A finished image not written yet (`path` None: Live mode), with what `save_later` needs
    to write it as `save_all` would have: the model's name and the run's facts."""

    model_name: str = ""
    run_facts: Mapping[str, Any] = field(default_factory=dict)


def unsaved(
    request: GenerationRequest,
    arrays: list[np.ndarray],
    model_name: str,
    notes: tuple[str, ...] = (),
    run_facts: Mapping[str, Any] | None = None,
) -> list[GeneratedImage]:
    """The images of one run, kept in memory (`path` None) instead of written."""
    facts = dict(run_facts or {})
    seeds = [item_seed(request.seed, k) for k in range(len(arrays))]
    no_path: Any = None
    return [
        UnsavedImage(no_path, array, seed, request, notes, model_name=model_name, run_facts=facts)
        for array, seed in zip(arrays, seeds, strict=True)
    ]


def save_later(output_dir: Path, result: UnsavedImage) -> GeneratedImage:
    """Writes an image `unsaved` kept, with the same metadata `save_all` writes (its own seed
    as batch item 0); raises ImageNotSavedError (with a fallback copy when one could be made)
    like save_all when the folder refuses it."""
    request = result.request.replace(seed=result.seed, batch_size=1)
    facts = result.run_facts
    return save_all(output_dir, request, [result.image], result.model_name, result.notes, facts)[0]
