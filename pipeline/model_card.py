"""A model's own defaults: its native size, and the sampler, CFG and steps its card recommends.

The card is the YAML front matter of the model folder's README.md, read with huggingface_hub.
Its `inference: parameters:` block is the Hub's own convention for a model's recommended
`guidance_scale` (and `num_inference_steps`); a card that gives one also vouches for the scheduler
the folder ships (`scheduler/scheduler_config.json`), which becomes the default sampler. A model
without such a card gets only its native size; the app's fallbacks apply to the rest.
Everything read is untrusted: values that do not fit the field table are ignored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import fields
from .samplers import SAMPLERS

MAX_CARD_BYTES = 1_000_000


def peek_model_defaults(model: str | None) -> dict[str, Any]:
    """A model folder's defaults read from its JSON configs and card, without loading weights
    or importing torch (the app shows the right size while the model loads). {} for anything
    that is not a local diffusers folder or cannot be read."""
    from .errors import BrushworkError
    from .models import SourceKind, parse_model_source

    try:
        source = parse_model_source(model, allow_pickle=True)
    except BrushworkError:
        return {}
    if source.kind is not SourceKind.FOLDER:
        return {}
    folder = Path(source.location)
    return model_defaults(folder, _configured_native_size(folder))


def _configured_native_size(folder: Path) -> int | None:
    """UNet sample size × VAE scale factor (2 ** (VAE levels - 1)), as `engine.native_size`
    computes it from the loaded pipeline."""
    try:
        unet = json.loads((folder / "unet" / "config.json").read_text(encoding="utf-8"))
        vae = json.loads((folder / "vae" / "config.json").read_text(encoding="utf-8"))
        sample_size, levels = unet["sample_size"], len(vae["block_out_channels"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if isinstance(sample_size, list) and sample_size:
        sample_size = sample_size[0]
    if isinstance(sample_size, bool) or not isinstance(sample_size, int) or not 0 < levels < 8:
        return None
    return sample_size * 2 ** (levels - 1)


def model_defaults(folder: Path | None, native_size: int | None) -> dict[str, Any]:
    """Field values the model prefers (table names): width/height, and sampler/guidance when
    its card recommends them (steps are the user's: the card's 20 is the app's default too)."""
    found: dict[str, Any] = {}
    if native_size:
        found["width"] = found["height"] = native_size
    if folder is not None:
        found.update(_card_defaults(folder))
    kept, _notes = fields.clean(found)
    return kept


def _card_defaults(folder: Path) -> dict[str, Any]:
    parameters = _inference_parameters(folder / "README.md")
    if not parameters:
        return {}
    found: dict[str, Any] = {}
    if "guidance_scale" in parameters:
        found["guidance"] = parameters["guidance_scale"]
    sampler = _shipped_sampler(folder / "scheduler" / "scheduler_config.json")
    if sampler is not None:
        found["sampler"] = sampler
    return found


def _inference_parameters(readme: Path) -> dict[str, Any]:
    from huggingface_hub.repocard import metadata_load

    try:
        if not readme.is_file() or readme.stat().st_size > MAX_CARD_BYTES:
            return {}
        card = metadata_load(readme) or {}
    except Exception:
        return {}
    inference = card.get("inference") if isinstance(card, dict) else None
    parameters = inference.get("parameters") if isinstance(inference, dict) else None
    return parameters if isinstance(parameters, dict) else {}


def _shipped_sampler(config_path: Path) -> str | None:
    """Our sampler id for the scheduler class and options the folder ships, if we have one."""
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict):
        return None
    karras = bool(config.get("use_karras_sigmas", False))
    sde = str(config.get("algorithm_type", "")).startswith("sde")
    for sampler in SAMPLERS:
        if (
            sampler.scheduler == config.get("_class_name")
            and sampler.options.get("use_karras_sigmas", False) == karras
            and ("algorithm_type" in sampler.options) == sde
        ):
            return sampler.id
    return None
