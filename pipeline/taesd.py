"""TAESD: a tiny decoder (1.2 M parameters against the SD VAE's 49.5 M) that turns latents into
an approximate image, for previews and for the optional "fast decode" of the final image.

The weights are diffusers `AutoencoderTiny` folders: `madebyollin/taesd` (SD 1.x/2.x latents)
and `madebyollin/taesdxl` (SDXL), downloaded on first use through downloads.py (progress,
cancel, resume) into the standard HF cache. A model folder may ship its own in `taesd/` (used
first; the bundled model's would live there). TAESD decodes the latents as the UNet sees them
(its scaling factor is 1), so no VAE scaling is applied here.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .downloads import ProgressCallback, download_model, is_offline
from .errors import Cancelled, ModelError

REPOS = {False: "madebyollin/taesd", True: "madebyollin/taesdxl"}
LOCAL_FOLDER = "taesd"  # inside a model folder
APPROXIMATE = "TAESD (approximate)"  # what the metadata records for a fast-decoded image


def taesd_repo(is_sdxl: bool) -> str:
    return REPOS[bool(is_sdxl)]


def local_taesd(model_dir: Path | None) -> Path | None:
    folder = model_dir / LOCAL_FOLDER if model_dir is not None else None
    return folder if folder is not None and (folder / "config.json").is_file() else None


def availability(model_dir: Path | None, is_sdxl: bool) -> str:
    """A short line for the settings dialog: ready, downloads on first use, or why not."""
    if local_taesd(model_dir) is not None:
        return "ready (shipped with the model)"
    if _cached_folder(taesd_repo(is_sdxl)) is not None:
        return "ready (downloaded)"
    if is_offline():
        return "unavailable: not downloaded and offline"
    return "downloads on first use (about 10 MB)"


def _cached_folder(repo: str) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo, "config.json")
    if not isinstance(found, str):
        return None
    folder = Path(found).parent
    return folder if any(folder.glob("*.safetensors")) else None


def load_taesd(
    model_dir: Path | None,
    is_sdxl: bool,
    device: str,
    dtype: Any,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> Any:
    """The AutoencoderTiny for a model's latents, on `device`; downloads it if needed.
    ModelError (offline and not downloaded, a broken folder) or Cancelled otherwise."""
    from diffusers import AutoencoderTiny

    folder = local_taesd(model_dir)
    repo = taesd_repo(is_sdxl)
    if folder is None:
        folder = _cached_folder(repo)
    if folder is None:
        if is_offline():
            raise ModelError(
                f"TAESD needs {repo}, which is not downloaded, and the Hub is offline; "
                "connect once to download it (about 10 MB)."
            )
        folder = download_model(repo, on_progress, cancel, required="config.json")
    try:
        vae = AutoencoderTiny.from_pretrained(str(folder), use_safetensors=True, dtype=dtype)
    except (Cancelled, ModelError):
        raise
    except Exception as exc:  # a damaged download or a foreign folder
        raise ModelError(f"TAESD in {folder} could not be loaded: {exc}") from None
    return vae.to(device).eval()


def decode_rgb(taesd: Any, latents: Any) -> np.ndarray:
    """One latent image (C×h×w, the UNet's space) → h·8×w·8×3 uint8."""
    import torch

    param = next(taesd.parameters())
    with torch.inference_mode():
        image = taesd.decode(latents[None].to(param.device, param.dtype)).sample[0]
    rgb = ((image.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return rgb.permute(1, 2, 0).cpu().numpy()


@dataclass
class PreviewBudget:
    """Rate limit for TAESD previews: at most `per_second`, and never more than `share` of the
    time (after a decode that took c seconds, the next waits at least c / share), so a slow
    decode (TAESD at 512² on a 2-core CPU is ~2 s) cannot slow generation by more than `share`.
    Between TAESD previews the step sends none: a switch between a sharp TAESD frame and a
    blurry linear one would flicker."""

    per_second: float = 4.0
    share: float = 0.10
    _next: float = 0.0

    def ready(self, now: float | None = None) -> bool:
        return (time.perf_counter() if now is None else now) >= self._next

    def spent(self, started: float, finished: float) -> None:
        cost = finished - started
        self._next = finished + max(1.0 / self.per_second, cost / self.share - cost)
