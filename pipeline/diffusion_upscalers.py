"""diffusers' own upscalers, when the user gives such a model (a folder or a Hub id): Stable
Diffusion ×4 (StableDiffusionUpscalePipeline) and the latent ×2 upscaler
(StableDiffusionLatentUpscalePipeline).

Unlike the spandrel models these are diffusion models guided by a prompt, and they do not tile:
the whole image goes through the UNet and VAE at once, so the input size is capped (refused
before any work, with the size named); bigger images go through a tiled spandrel upscaler.
Progress is per denoising step; cancel stops at the next step.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .errors import Cancelled, ImageInputError, ModelError

# model_index.json's class → how many times larger one run makes the image
SCALES = {"StableDiffusionUpscalePipeline": 4, "StableDiffusionLatentUpscalePipeline": 2}
LABELS = {4: "Stable Diffusion ×4 upscaler", 2: "latent ×2 upscaler"}
# The whole image is in memory at the output size (UNet at 1/1 or 1/8, VAE decode at 1/1): one
# megapixel out keeps a CPU run to a few GB; tiled spandrel upscalers cover bigger images.
MAX_OUTPUT_PIXELS = 1024 * 1024
DEFAULT_STEPS = 20
NOISE_LEVEL = 20  # SD ×4: noise added to the low-res conditioning (diffusers' default)
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")

StepProgress = Callable[[int, int], None]  # (steps done, steps in all)


def upscaler_scale(folder: Path) -> int | None:
    """4 or 2 when `folder` holds one of diffusers' upscaler pipelines, else None."""
    try:
        index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return SCALES.get(index.get("_class_name")) if isinstance(index, dict) else None


def list_diffusion_upscalers(folder: Path | None) -> list[Path]:
    """The diffusers upscaler folders inside the user's upscaler `folder`, by name."""
    if folder is None or not folder.is_dir():
        return []
    found = (p for p in folder.iterdir() if p.is_dir() and upscaler_scale(p) is not None)
    return sorted(found, key=lambda p: p.name.lower())


def find_diffusion_upscaler(name: str | None, folder: Path | None) -> str | None:
    """What `name` names if it is a diffusers upscaler: a folder's path, or a Hub id (which may
    still need downloading); None when it names a spandrel model file (or nothing)."""
    if name is None:
        return None
    path = Path(name).expanduser()
    if path.is_dir():
        if upscaler_scale(path) is None:
            raise ModelError(
                f"{path} is not an upscaler: expected a diffusers Stable Diffusion ×4 or latent ×2 "
                "upscaler folder (model_index.json naming its pipeline), or a model file."
            )
        return str(path)
    if path.is_file():
        return None
    for candidate in list_diffusion_upscalers(folder):
        if name == candidate.name:
            return str(candidate)
    if folder is not None and any(
        p.stem == name or p.name == name for p in folder.glob("*") if p.is_file()
    ):
        return None  # a model file in the folder
    if path.suffix.lower() in (".safetensors", ".pth", ".pt", ".ckpt", ".bin"):
        return None  # a model file that is missing: the file loader says so
    return name if _HUB_ID.match(name) else None


def known_scale(where: str) -> int | None:
    """The scale of a folder's or an already downloaded Hub id's upscaler, without loading it."""
    path = Path(where).expanduser()
    if path.is_dir():
        return upscaler_scale(path)
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(where, "model_index.json")
    return upscaler_scale(Path(found).parent) if isinstance(found, str) else None


def check_input_size(width: int, height: int, factor: int, scale: int) -> None:
    """Refuses, before any work, what these upscalers cannot do at that size or factor."""
    what = LABELS[scale]
    if factor > scale:
        raise ImageInputError(
            f"The {what} makes images up to {scale}× larger (asked: ×{factor}); choose ×{scale} "
            "or less, or a model-file upscaler."
        )
    if width * height * scale * scale > MAX_OUTPUT_PIXELS:
        side = int((MAX_OUTPUT_PIXELS / scale / scale) ** 0.5)
        raise ImageInputError(
            f"The {what} runs on the whole image at once: {width}×{height} is too large for it "
            f"(it would make {width * scale}×{height * scale}; at most about {side}×{side} in). "
            "Use a model-file upscaler (tiled), or a smaller image."
        )


@dataclass
class DiffusionUpscaler:
    """A loaded diffusers upscaler pipeline; `scale` is what one run multiplies sizes by."""

    name: str
    pipe: Any
    scale: int

    def upscale(
        self,
        image: np.ndarray,
        factor: int,
        prompt: str = "",
        on_step: StepProgress | None = None,
        cancel: threading.Event | None = None,
        steps: int = DEFAULT_STEPS,
        seed: int = 0,
    ) -> np.ndarray:
        """`image` (H×W×3 uint8) made `factor` (≤ scale) times larger, guided by `prompt`."""
        import torch

        height, width = image.shape[:2]
        check_input_size(width, height, factor, self.scale)
        padded = _pad_to(image, self._multiple())

        def callback(step: int, _timestep: Any, _latents: Any) -> None:
            if cancel is not None and cancel.is_set():
                raise Cancelled("Upscale cancelled; the image is unchanged.")
            if on_step is not None:
                on_step(step + 1, steps)

        if cancel is not None and cancel.is_set():
            raise Cancelled("Upscale cancelled; the image is unchanged.")
        kwargs = {"noise_level": NOISE_LEVEL} if self.scale == 4 else {}
        with torch.inference_mode():
            result = self.pipe(
                prompt=prompt,
                image=Image.fromarray(padded),
                num_inference_steps=steps,
                generator=torch.Generator("cpu").manual_seed(seed),
                output_type="np",
                callback=callback,
                callback_steps=1,
                **kwargs,
            ).images[0]
        pixels = np.clip(np.round(result * 255), 0, 255).astype(np.uint8)
        pixels = pixels[: height * self.scale, : width * self.scale]
        if factor == self.scale:
            return pixels
        size = (width * factor, height * factor)
        return np.asarray(Image.fromarray(pixels).resize(size, Image.LANCZOS))

    def _multiple(self) -> int:
        """The side every input must be a multiple of: the UNet halves it per level, and the
        latent upscaler first encodes the image with an 8× VAE."""
        unet = 2 ** (len(self.pipe.unet.config.down_block_types) - 1)
        if self.scale == 4:  # the ×4 UNet runs at the input's own size
            return unet
        vae = 2 ** (len(self.pipe.vae.config.block_out_channels) - 1)
        return unet * vae


def _pad_to(image: np.ndarray, multiple: int) -> np.ndarray:
    """Edge-padded at the bottom and right to multiples of `multiple` (cropped off after)."""
    height, width = image.shape[:2]
    pad_h, pad_w = -height % multiple, -width % multiple
    if not pad_h and not pad_w:
        return image
    return np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")


_cache: dict[tuple[str, str], DiffusionUpscaler] = {}  # the last one, kept loaded


def load_diffusion_upscaler(
    where: str,
    device: str = "cpu",
    on_download: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> DiffusionUpscaler:
    """A folder's or Hub id's upscaler pipeline (downloaded first through pipeline.downloads,
    with byte progress and cancel); the last one loaded is reused."""
    folder = _local_folder(where, on_download, cancel)
    key = (str(folder.resolve()), device)
    if key not in _cache:
        _cache.clear()  # one at a time: they are hundreds of MB
        _cache[key] = _load(folder, where, device)
    return _cache[key]


def _local_folder(
    where: str, on_download: Callable[[int, int], None] | None, cancel: threading.Event | None
) -> Path:
    path = Path(where).expanduser()
    if path.is_dir():
        return path
    from .downloads import download_model, is_downloaded, is_offline

    if is_downloaded(where):
        from huggingface_hub import try_to_load_from_cache

        return Path(str(try_to_load_from_cache(where, "model_index.json"))).parent
    if is_offline():
        raise ModelError(
            f"Upscaler {where!r} is not downloaded and the Hub is off (HF_HUB_OFFLINE); connect "
            "once to download it, or give a local folder."
        )

    def progress(update: Any) -> None:
        if on_download is not None:
            on_download(update.done_bytes, update.total_bytes)

    return download_model(where, progress, cancel)


def _load(folder: Path, where: str, device: str) -> DiffusionUpscaler:
    from .models import check_model_folder, choose_dtype

    scale = upscaler_scale(folder)
    if scale is None:
        raise ModelError(
            f"{where} is not a Stable Diffusion ×4 or latent ×2 upscaler (its model_index.json "
            "names another pipeline)."
        )
    index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    check_model_folder(folder, index)  # incomplete or pickle-only parts, named
    from diffusers import DiffusionPipeline

    skip = {k: None for k in ("safety_checker", "watermarker", "feature_extractor") if k in index}
    try:
        pipe = DiffusionPipeline.from_pretrained(
            folder,
            dtype=choose_dtype(device),
            use_safetensors=True,
            local_files_only=True,
            **skip,
        )
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        line = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise ModelError(f"Upscaler {Path(where).name!r} could not be loaded: {line}") from None
    pipe.set_progress_bar_config(disable=True)
    return DiffusionUpscaler(name=Path(where).name, pipe=pipe.to(device), scale=scale)
