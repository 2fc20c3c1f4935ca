"""Upscale models (ESRGAN, Real-ESRGAN compact, SwinIR, HAT, DAT, … via spandrel), run in tiles.

Model files are untrusted: `.safetensors` only, unless the user opts in to pickle files, which
are then read with `weights_only=True`. Any canvas fits in memory because the model only ever
sees one tile (plus an overlap of context that is cropped away again), and the result is
written into a uint8 buffer of the output size. Sizes are checked before any work.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .errors import Cancelled, ImageInputError, ModelError
from .imagefiles import MAX_PIXELS, MAX_SIDE
from .models import resources_dir
from .spandrel_import import import_spandrel

BUNDLED_UPSCALER = "brushwork-shapes-x4"
MIN_FACTOR, MAX_FACTOR = 2, 8
TILE = 192  # input px per tile: small enough for any device, large enough to amortise calls
OVERLAP = 16  # input px of context on each side of a tile, cropped away after the model ran
_PICKLE_SUFFIXES = {".pth", ".pt", ".ckpt"}
_SUFFIXES = {".safetensors", *_PICKLE_SUFFIXES}

TileProgress = Callable[[int, int], None]  # (tiles done, tiles in all)


def upscalers_dir() -> Path:
    """The bundled upscalers (resources/upscalers)."""
    return resources_dir() / "upscalers"


def user_upscalers_dir() -> Path:
    """Where the user's upscale models go: `<user data dir>/Brushwork/upscalers`."""
    import platformdirs

    return platformdirs.user_data_path("Brushwork", appauthor=False) / "upscalers"


def bundled_upscaler_path() -> Path:
    return upscalers_dir() / f"{BUNDLED_UPSCALER}.safetensors"


def list_upscalers(folder: Path | None = None) -> list[Path]:
    """The bundled upscaler, then the model files in the user's upscaler `folder` (by name),
    then the diffusers upscaler folders in it (pipeline.diffusion_upscalers).

    Pickle files are listed too; loading them still needs the opt-in.
    """
    from .diffusion_upscalers import list_diffusion_upscalers

    found = [bundled_upscaler_path()] if bundled_upscaler_path().is_file() else []
    if folder is not None and folder.is_dir():
        found += sorted(
            (p for p in folder.iterdir() if p.suffix.lower() in _SUFFIXES and p.is_file()),
            key=lambda p: p.name.lower(),
        )
    return found + list_diffusion_upscalers(folder)


def resolve_upscaler(name: str | None, folder: Path | None = None) -> Path:
    """A path from what the user gave: None (the bundled upscaler), a file, or a file's stem
    or name in the upscaler `folder` (default: the user's upscaler folder)."""
    folder = folder or user_upscalers_dir()
    if name is None or name == BUNDLED_UPSCALER:
        path = bundled_upscaler_path()
        if not path.is_file():
            raise ModelError(f"The bundled upscaler is missing ({path}); reinstall Brushwork.")
        return path
    path = Path(name).expanduser()
    if path.is_file():
        return path
    for candidate in list_upscalers(folder):
        if name in (candidate.name, candidate.stem):
            return candidate
    raise ModelError(f"Upscaler {name!r} not found (no such file, nor in {folder}).")


def check_factor(factor: object) -> int:
    if isinstance(factor, bool) or not isinstance(factor, (int, np.integer)):
        raise ImageInputError(f"The upscale factor must be a whole number (got {factor!r}).")
    if not MIN_FACTOR <= factor <= MAX_FACTOR:
        raise ImageInputError(
            f"The upscale factor must be between {MIN_FACTOR} and {MAX_FACTOR} (got {factor})."
        )
    return int(factor)


def check_output_size(width: int, height: int, factor: int) -> tuple[int, int]:
    """The output size, or an error naming it when it is over the image size limit."""
    out_w, out_h = width * factor, height * factor
    if out_w > MAX_SIDE or out_h > MAX_SIDE or out_w * out_h > MAX_PIXELS:
        raise ImageInputError(
            f"Upscaling {width}×{height} by {factor} would make {out_w}×{out_h} pixels; "
            f"Brushwork makes images up to {MAX_SIDE} px a side and {MAX_PIXELS // 2**20} "
            "megapixels. Choose a smaller factor or a smaller image."
        )
    return out_w, out_h


@dataclass
class Upscaler:
    """A loaded upscale model: `scale` is what one pass of the model multiplies sizes by."""

    name: str
    model: Any  # spandrel ImageModelDescriptor
    scale: int
    architecture: str

    def upscale(
        self,
        image: np.ndarray,
        factor: int,
        on_tile: TileProgress | None = None,
        cancel: threading.Event | None = None,
        tile: int = TILE,
    ) -> np.ndarray:
        """`image` (H×W×3 uint8) made `factor` times larger, tile by tile.

        Where `factor` is not a power of the model's scale, the model runs as often as needed to
        reach at least `factor` and each tile is then scaled down (Lanczos) to the exact size;
        this per tile, so the large intermediate image never exists.
        """
        factor = check_factor(factor)
        height, width = image.shape[:2]
        out_w, out_h = check_output_size(width, height, factor)
        passes = max(1, math.ceil(math.log(factor, self.scale) - 1e-9))
        output = np.empty((out_h, out_w, 3), np.uint8)
        tiles = list(_tiles(width, height, tile))
        for done, (x0, y0, x1, y1) in enumerate(tiles):
            if cancel is not None and cancel.is_set():
                raise Cancelled("Upscale cancelled; the image is unchanged.")
            px0, py0 = max(0, x0 - OVERLAP), max(0, y0 - OVERLAP)
            px1, py1 = min(width, x1 + OVERLAP), min(height, y1 + OVERLAP)
            result = self._run(image[py0:py1, px0:px1], passes)
            size = ((px1 - px0) * factor, (py1 - py0) * factor)
            if result.shape[1] != size[0] or result.shape[0] != size[1]:
                result = np.asarray(Image.fromarray(result).resize(size, Image.LANCZOS))
            top, left = (y0 - py0) * factor, (x0 - px0) * factor
            output[y0 * factor : y1 * factor, x0 * factor : x1 * factor] = result[
                top : top + (y1 - y0) * factor, left : left + (x1 - x0) * factor
            ]
            if on_tile is not None:
                on_tile(done + 1, len(tiles))
        return output

    def _run(self, pixels: np.ndarray, passes: int) -> np.ndarray:
        import torch

        device = self.model.device
        x = torch.from_numpy(np.array(pixels)).to(device)  # a copy: the input may be read-only
        x = x.permute(2, 0, 1).unsqueeze(0).float().div_(255)
        with torch.inference_mode():
            for _ in range(passes):  # spandrel pads to what the architecture needs
                x = self.model(x)
            x = x.squeeze(0).permute(1, 2, 0).clamp_(0, 1).mul_(255).round_()
            return x.to("cpu", torch.uint8).numpy()


_cache: dict[tuple[str, int, bool, str], Upscaler] = {}  # the last upscaler, kept loaded


def cached_upscaler(
    name: str | None, folder: Path | None = None, allow_pickle: bool = False, device: str = "cpu"
) -> Upscaler:
    """`load_upscaler` of what `name` resolves to, reusing the last one loaded if unchanged."""
    path = resolve_upscaler(name, folder)
    key = (str(path.resolve()), path.stat().st_mtime_ns, allow_pickle, device)
    if key not in _cache:
        _cache.clear()  # one model at a time: they can be hundreds of MB
        _cache[key] = load_upscaler(path, allow_pickle, device)
    return _cache[key]


def _tiles(width: int, height: int, tile: int) -> Iterator[tuple[int, int, int, int]]:
    """Core rectangles (x0, y0, x1, y1) covering the image, rows first."""
    for y0 in range(0, height, tile):
        for x0 in range(0, width, tile):
            yield x0, y0, min(width, x0 + tile), min(height, y0 + tile)


def load_upscaler(path: Path, allow_pickle: bool = False, device: str = "cpu") -> Upscaler:
    """Loads an upscale model file, refusing anything that is not a plain-weights upscaler."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"Upscaler not found: {path}")
    suffix = path.suffix.lower()
    if suffix not in _SUFFIXES:
        raise ModelError(
            f"{path.name} is not an upscale model file (expected .safetensors, or .pth with the "
            "pickle opt-in)."
        )
    if suffix in _PICKLE_SUFFIXES and not allow_pickle:
        raise ModelError(
            f"{path.name} is a pickle file, which can run code when loaded; Brushwork loads "
            "upscalers from .safetensors. Allow pickle files (weights only) to load it anyway."
        )
    state = _read_state_dict(path)
    spandrel = import_spandrel()
    try:
        descriptor = spandrel.ModelLoader().load_from_state_dict(state)
    except spandrel.UnsupportedModelError:
        raise ModelError(
            f"{path.name}: the model's architecture is not one spandrel knows (ESRGAN, "
            "Real-ESRGAN, SwinIR, HAT, DAT, OmniSR, …), so it cannot be used as an upscaler."
        ) from None
    except (KeyError, RuntimeError, ValueError, IndexError) as exc:
        raise ModelError(f"{path.name} could not be loaded as an upscaler: {_line(exc)}") from None
    return _as_upscaler(path, descriptor, device)


def _read_state_dict(path: Path) -> dict[str, Any]:
    import pickle

    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    spandrel = import_spandrel()
    try:
        if path.suffix.lower() == ".safetensors":
            state = load_file(path, device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except (SafetensorError, OSError, EOFError, RuntimeError) as exc:
        raise ModelError(
            f"{path.name} is damaged or truncated and was not loaded: {_line(exc)}"
        ) from None
    except (pickle.UnpicklingError, ValueError) as exc:
        raise ModelError(
            f"{path.name} holds more than plain weights (code or custom objects) and was not "
            f"loaded: {_line(exc)}"
        ) from None
    if not isinstance(state, dict) or not state:
        raise ModelError(f"{path.name} holds no weights.")
    return spandrel.canonicalize_state_dict(state)


def _as_upscaler(path: Path, descriptor: Any, device: str) -> Upscaler:
    arch = descriptor.architecture.name
    scale = int(getattr(descriptor, "scale", 1))
    purpose = getattr(descriptor, "purpose", None)
    channels = (getattr(descriptor, "input_channels", 0), getattr(descriptor, "output_channels", 0))
    if purpose != "SR" or scale < 2 or channels != (3, 3):
        what = f"a {purpose.lower()} model" if isinstance(purpose, str) else "not an image model"
        raise ModelError(
            f"{path.name} is {what} ({arch}, scale {scale}, channels {channels[0]}→"
            f"{channels[1]}), not an RGB upscaler."
        )
    descriptor.to(device).eval()
    return Upscaler(name=path.stem, model=descriptor, scale=scale, architecture=arch)


def _line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]
