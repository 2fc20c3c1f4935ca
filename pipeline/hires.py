"""Hires fix: the second pass of a txt2img request with `hires_scale` set.

Models draw well only near their native size, so the first pass generates there; each image
is then made `hires_scale` times larger (in latent space, with Lanczos, or with an upscale
model) and re-diffused with img2img at `hires_strength` for `hires_steps` steps, which adds the
detail a plain resize cannot. The engine calls `hires_pass` in one place, after the first pass.
"""

from __future__ import annotations

import math
import threading
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from .fields import LANCZOS, LATENT, hires_size
from .request import GenerationRequest, Mode, item_seed
from .results import StepCallback

if TYPE_CHECKING:
    from .engine import Engine
    from .upscale import Upscaler


def hires_pass(
    engine: Engine,
    request: GenerationRequest,
    arrays: list[np.ndarray],
    on_step: StepCallback | None,
    cancel: threading.Event | None,
    notes: list[str],
) -> list[np.ndarray]:
    """The first pass's images, each upscaled and re-diffused at the hires size."""
    size = hires_size(request.width, request.height, request.hires_scale)
    upscaler = None
    if request.hires_upscaler not in (LATENT, LANCZOS):
        upscaler = _upscale_model(engine, request.hires_upscaler)  # fails before any work
    finished = []
    for index, image in enumerate(arrays):
        second = request.replace(
            mode=Mode.IMG2IMG,
            width=size[0],
            height=size[1],
            strength=request.hires_strength,
            steps=request.hires_steps or request.steps,
            batch_size=1,
            seed=item_seed(request.seed, index),
            hires_scale=0.0,
            init_image=_upscaled(image, size, upscaler, cancel),
        )
        latents = _latent_upscale(engine, image, size) if request.hires_upscaler == LATENT else None
        images, more = engine._generate(second, on_step, cancel, init_latents=latents)
        notes.extend(note for note in more if note not in notes)
        finished.append(images[0])
    return finished


def _upscaled(
    image: np.ndarray,
    size: tuple[int, int],
    upscaler: Upscaler | None,
    cancel: threading.Event | None,
) -> np.ndarray:
    """The image at `size`: through the upscale model (at the next whole factor), then Lanczos."""
    if upscaler is not None:
        factor = max(2, math.ceil(max(size[0] / image.shape[1], size[1] / image.shape[0])))
        image = upscaler.upscale(image, factor, cancel=cancel)
    if image.shape[1::-1] == size:
        return image
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))


def _latent_upscale(engine: Engine, image: np.ndarray, size: tuple[int, int]) -> Any:
    """A1111's "Latent" upscaler: the first pass's latents, stretched bilinearly. The image is
    encoded again (at the native size, cheap) rather than kept from the first pass, so the
    engine's first pass stays as it is."""
    import torch
    import torch.nn.functional as F

    pipe = engine.model.pipelines[Mode.TXT2IMG]
    vae = pipe.vae
    pixels = torch.from_numpy(image).permute(2, 0, 1).unsqueeze(0).float() / 127.5 - 1
    with torch.inference_mode():
        encoded = vae.encode(pixels.to(vae.device, vae.dtype)).latent_dist.mean
        latents = encoded * vae.config.scaling_factor
        factor = pipe.vae_scale_factor
        target = (size[1] // factor, size[0] // factor)
        return F.interpolate(latents.float(), size=target, mode="bilinear").to(vae.dtype)


def _upscale_model(engine: Engine, name: str) -> Upscaler:
    from .upscale import cached_upscaler

    folder = getattr(engine, "upscaler_dir", None)
    return cached_upscaler(name, folder, engine.allow_pickle, engine.device)
