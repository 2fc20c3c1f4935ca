"""A separate VAE for a model: a `.safetensors` file (diffusers or original/LDM key layout) or
a diffusers folder. It is built with the loaded model's own VAE config (scaling factor, sizes),
so a VAE whose layers do not fit is refused by name instead of decoding garbage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .errors import ModelError


def load_vae(location: str, base_vae: Any) -> Any:
    """An AutoencoderKL on the base VAE's device and dtype."""
    from diffusers import AutoencoderKL

    path = Path(location)
    if path.is_dir():
        folder = path / "vae" if (path / "vae" / "config.json").is_file() else path
        if not (folder / "config.json").is_file():
            raise ModelError(f"VAE folder {path} has no config.json (nor vae/config.json).")
        try:
            vae = AutoencoderKL.from_pretrained(str(folder), use_safetensors=True)
        except (OSError, ValueError, RuntimeError) as exc:
            raise ModelError(f"VAE folder {path.name} could not be loaded: {exc}") from None
        _check_fits(vae, base_vae, path.name)
    else:
        state = _read_state(path)
        vae = AutoencoderKL.from_config(base_vae.config)
        if not any(k.startswith(("decoder.up_blocks", "encoder.down_blocks")) for k in state):
            state = _from_ldm(state, dict(base_vae.config), path.name)
        try:
            missing, unexpected = vae.load_state_dict(state, strict=False)
        except RuntimeError as exc:  # a layer of another shape
            first = str(exc).split("\n\t")[1] if "\n\t" in str(exc) else str(exc)
            raise ModelError(f"VAE {path.name} does not fit this model: {first}") from None
        if missing or unexpected:
            example = (missing or unexpected)[0]
            raise ModelError(
                f"VAE {path.name} does not fit this model: {len(missing)} weights missing, "
                f"{len(unexpected)} unknown (e.g. {example})."
            )
    return vae.to(device=base_vae.device, dtype=base_vae.dtype).eval()


def _read_state(path: Path) -> dict[str, torch.Tensor]:
    from .loras import read_lora  # the same hostile-file checks (pickle, truncated, NaN)

    try:
        state = read_lora(path).state
    except ModelError as exc:
        raise ModelError(str(exc).replace("LoRA", "VAE", 1)) from None
    # A whole checkpoint holds the VAE under first_stage_model.; a VAE file has it bare.
    prefix = "first_stage_model."
    if any(k.startswith(prefix) for k in state):
        state = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    return state


def _from_ldm(state: dict[str, torch.Tensor], config: dict, name: str) -> dict:
    from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

    try:
        return convert_ldm_vae_checkpoint(state, config)
    except (KeyError, ValueError, RuntimeError, IndexError) as exc:
        raise ModelError(f"VAE {name} is not a VAE this model can use ({exc}).") from None


def _check_fits(vae: Any, base_vae: Any, name: str) -> None:
    ours = {k: v.shape for k, v in base_vae.state_dict().items()}
    theirs = {k: v.shape for k, v in vae.state_dict().items()}
    if ours != theirs:
        raise ModelError(f"VAE {name} does not fit this model: its layers differ in shape.")


def set_vae(model: Any, location: str | None) -> None:
    """Puts the requested VAE (None: the model's own) into every pipeline of the model; loaded
    VAEs are kept by file, so switching back and forth reads each file once."""
    own = model.__dict__.setdefault("own_vae", next(iter(model.pipelines.values())).vae)
    cache: dict[tuple[str, int], Any] = model.__dict__.setdefault("vaes", {})
    vae = own
    if location:
        path = Path(location)
        if not path.exists():
            raise ModelError(f"VAE not found: {location}")
        key = (str(path.resolve()), path.stat().st_mtime_ns)
        if key not in cache:
            cache.clear()  # one extra VAE in memory at most
            cache[key] = load_vae(location, own)
        vae = cache[key]
    for pipe in model.pipelines.values():
        if pipe.vae is not vae:
            pipe.register_modules(vae=vae)


def vae_name(location: str | None) -> str | None:
    """A1111 writes the VAE's file name without extension."""
    if not location:
        return None
    path = Path(location)
    return path.stem if path.suffix else path.name
