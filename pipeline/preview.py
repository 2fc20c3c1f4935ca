"""Per-step previews: the model's predicted clean image (x0), projected latent→RGB linearly.

A linear projection of 4 latent channels costs a few microseconds per pixel and needs no decoder,
so a preview can be shown at every step without slowing generation (see bench/ for figures).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# Published factors for latents in the UNet's (scaled) space, mapping to RGB in [-1, 1]
# (ComfyUI comfy/latent_formats.py; A1111 sd_vae_approx.py uses the same idea).
SD1_FACTORS = (
    (0.3512, 0.2297, 0.3227),
    (0.3250, 0.4974, 0.2350),
    (-0.2829, 0.1762, 0.2721),
    (-0.2120, -0.2616, -0.7177),
)
SDXL_FACTORS = (
    (0.3920, 0.4054, 0.4549),
    (-0.2634, -0.0196, 0.0653),
    (0.0568, 0.1687, -0.0755),
    (-0.3112, -0.2359, -0.2076),
)
FACTORS_FILE = "latent_rgb.json"  # fitted factors a model folder may ship (the bundled one does)


@dataclass(frozen=True)
class LatentRGB:
    """rgb = latents(h×w×C) @ factors + bias, in [-1, 1]."""

    factors: tuple[tuple[float, float, float], ...]
    bias: tuple[float, float, float] = (0.0, 0.0, 0.0)
    source: str = "sd1"

    @classmethod
    def from_file(cls, path: Path) -> LatentRGB:
        data = json.loads(path.read_text(encoding="utf-8"))
        factors = tuple(tuple(float(v) for v in row) for row in data["factors"])
        bias = tuple(float(v) for v in data.get("bias", (0.0, 0.0, 0.0)))
        if any(len(row) != 3 for row in factors) or len(bias) != 3:
            raise ValueError(f"{path}: factors must be C×3 and bias 3 values")
        return cls(factors, bias, source=str(path))  # type: ignore[arg-type]

    def project(self, latents: Any) -> np.ndarray:
        """Projects one latent image (C×h×w torch tensor) to an h×w×3 uint8 array."""
        import torch

        weight = torch.tensor(self.factors, dtype=torch.float32, device=latents.device)
        bias = torch.tensor(self.bias, dtype=torch.float32, device=latents.device)
        rgb = torch.einsum("chw,cr->hwr", latents.float(), weight) + bias
        rgb = ((rgb + 1.0) * 127.5).clamp_(0, 255).round_().to(torch.uint8)
        return rgb.cpu().numpy()


def latent_rgb_for(model_dir: Path | None, is_sdxl: bool) -> LatentRGB:
    """Chooses the projection: a model's own fitted factors, else the family's published ones."""
    if model_dir is not None and (model_dir / FACTORS_FILE).is_file():
        return LatentRGB.from_file(model_dir / FACTORS_FILE)
    if is_sdxl:
        return LatentRGB(SDXL_FACTORS, source="sdxl")
    return LatentRGB(SD1_FACTORS, source="sd1")


def track_x0(scheduler: Any) -> Callable[[], Any]:
    """Wraps `scheduler.step` so the latest predicted clean latents (x0) can be read back.

    diffusers' step callback only sees the noisy latents. Most schedulers return x0 as the second
    item of `step(..., return_dict=False)`; the DPM-Solver, UniPC and PNDM families do not, and for
    them x0 follows from the variance-preserving formula. The scheduler is made fresh for each run,
    so patching this one instance affects nothing else.
    """
    original_step = scheduler.step
    last: dict[str, Any] = {}

    # wraps() keeps the signature visible: pipelines pass `generator` to step() only if its
    # signature names it, and without it ancestral samplers draw from the global RNG.
    @functools.wraps(original_step)
    def step(model_output: Any, timestep: Any, sample: Any, *args: Any, **kwargs: Any) -> Any:
        result = original_step(model_output, timestep, sample, *args, **kwargs)
        last.update(result=result, model_output=model_output, timestep=timestep, sample=sample)
        return result

    scheduler.step = step

    def read() -> Any:
        if not last:
            return None
        result = last["result"]
        if isinstance(result, tuple) and len(result) > 1 and result[1] is not None:
            return result[1]
        x0 = getattr(result, "pred_original_sample", None)
        if x0 is not None:
            return x0
        return _vp_x0(scheduler, last["model_output"], last["timestep"], last["sample"])

    return read


def _vp_x0(scheduler: Any, model_output: Any, timestep: Any, sample: Any) -> Any:
    alphas = scheduler.alphas_cumprod
    index = min(max(int(timestep), 0), len(alphas) - 1)
    alpha = alphas[index].to(device=sample.device, dtype=sample.dtype)
    sigma = (1 - alpha).sqrt()
    if scheduler.config.prediction_type == "v_prediction":
        return alpha.sqrt() * sample - sigma * model_output
    if scheduler.config.prediction_type == "sample":
        return model_output
    return (sample - sigma * model_output) / alpha.sqrt()
