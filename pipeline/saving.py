"""Writing finished images with their parameters: the last step of every backend.

The local engine and the remote (ComfyUI) backend both end here, so files, metadata and the
fallback when the output folder refuses them are the same whichever machine generated them.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
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
