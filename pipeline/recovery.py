"""Recovering from the two failures that hit users most: out of memory and NaN (black) images.

Out of memory: the memory is freed and the generation is run again with the next memory saving
(VAE tiling → attention slicing → CPU offload, see memory.py); when the denoising had finished
and only the VAE decode ran out, only the decode is done again, with VAE tiling. NaN:
half-precision VAEs overflow on some latents (SDXL's VAE is the best-known case) and decode to
NaN, which becomes a black image; decoding the same latents again with the VAE in float32 gives
the real picture, and only the batch items that came out NaN are decoded again.
"""

from __future__ import annotations

import gc
from typing import Any

import numpy as np

# Messages of allocators that do not raise torch.OutOfMemoryError (MPS, CPU, older builds).
_OOM_PHRASES = ("out of memory", "not enough memory", "can't allocate memory", "failed to allocate")


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether `exc` says that an allocation failed (CUDA, MPS or CPU)."""
    import torch

    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and any(phrase in text for phrase in _OOM_PHRASES)


def free_memory(device: str) -> None:
    """Returns what the failed attempt held: Python garbage first, then the device's cache."""
    import torch

    gc.collect()
    if device == "cuda" and torch.cuda.is_available():
        torch.cuda.empty_cache()
    elif device == "mps" and hasattr(torch, "mps"):
        torch.mps.empty_cache()


def has_invalid_values(images: np.ndarray) -> bool:
    """NaN or infinite pixels: a decoder overflow, shown as a black image if not caught."""
    return not bool(np.isfinite(images).all())


class FinalLatents:
    """The latents of the last denoising step, kept by the engine's step callback.

    A decode that fails after them (out of memory, NaN pixels) is done again from these
    latents: the denoising, by far the longest part, is not repeated.
    """

    def __init__(self) -> None:
        self.latents: Any = None
        self.complete = False  # the denoising loop has run its last step

    def record(self, latents: Any, step: int, total: int) -> None:
        self.latents = latents
        self.complete = step >= total


def invalid_items(images: np.ndarray) -> list[int]:
    """Indexes of the batch items with NaN or infinite pixels."""
    flat = images.reshape(len(images), -1)
    return [int(k) for k in np.flatnonzero(~np.isfinite(flat).all(axis=1))]


def decode_latents(pipe: Any, latents: Any, dtype: Any = None) -> np.ndarray:
    """Decodes `latents` as the pipeline does, as float images in [0, 1] (N×H×W×3).

    `dtype` None decodes in the VAE's own dtype (float32 where the pipeline would upcast an
    fp16 VAE, as SDXL's does); otherwise the VAE runs in `dtype` and goes back to its own
    dtype afterwards, so the pipeline's next run is unchanged.
    """
    import torch

    vae = pipe.vae
    original = vae.dtype
    if dtype is None:
        upcast = original == torch.float16 and vae.config.get("force_upcast", False)
        dtype = torch.float32 if upcast else original
    if dtype != original:
        vae.to(dtype=dtype)
    try:
        with torch.inference_mode():
            scaled = _unscale(vae.config, latents.to(dtype=dtype))
            decoded = vae.decode(scaled, return_dict=False)[0]
            return pipe.image_processor.postprocess(decoded, output_type="np")
    finally:
        if dtype != original:
            vae.to(dtype=original)


def decode_in_float32(pipe: Any, latents: Any) -> np.ndarray:
    """Decodes `latents` with the VAE upcast to float32 (the cure for an fp16 VAE's NaN)."""
    import torch

    return decode_latents(pipe, latents, torch.float32)


def _unscale(config: Any, latents: Any) -> Any:
    """The inverse of the scaling the pipeline applies before decoding (SD, SDXL, SD3 styles)."""
    import torch

    mean, std = config.get("latents_mean"), config.get("latents_std")
    if mean is not None and std is not None:
        shape = (1, -1, 1, 1)
        mean_t = torch.tensor(mean, dtype=latents.dtype, device=latents.device).view(shape)
        std_t = torch.tensor(std, dtype=latents.dtype, device=latents.device).view(shape)
        return latents * std_t / config["scaling_factor"] + mean_t
    latents = latents / config["scaling_factor"]
    shift = config.get("shift_factor")
    return latents + shift if shift else latents
