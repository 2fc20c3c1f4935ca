"""Writing finished images: atomically, as PNG, with their parameters, never overwriting."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from .atomic import write_atomically
from .errors import OutputError

APP_NAME = "Brushwork"


def default_output_dir() -> Path:
    """`<user data dir>/Brushwork/outputs` (on Linux ~/.local/share/Brushwork/outputs)."""
    import platformdirs

    return platformdirs.user_data_path(APP_NAME, appauthor=False) / "outputs"


def write_png(image: np.ndarray, directory: Path, stem: str, text_chunks: dict[str, str]) -> Path:
    """Writes `image` as `<directory>/<stem>.png` (or `<stem>-N.png` if taken) and returns it."""
    return _write_atomically(image, directory, text_chunks, lambda: _free_name(directory, stem))


def save_png_as(image: np.ndarray, path: Path, text_chunks: dict[str, str]) -> Path:
    """Writes `image` to exactly `path` (replacing it), as the user asked with "Save as"."""
    return _write_atomically(image, path.parent, text_chunks, lambda: path)


def _write_atomically(
    image: np.ndarray, directory: Path, text_chunks: dict[str, str], target: Callable[[], Path]
) -> Path:
    """Writes crash-safely (see atomic.py): a crash leaves either the whole image or nothing,
    never a truncated PNG."""
    info = PngInfo()
    for key, value in text_chunks.items():
        info.add_text(key, value)

    def encode(handle: IO[bytes]) -> None:
        mode = "L" if image.ndim == 2 else "RGB"  # H×W: a grey-level image such as a mask
        Image.fromarray(image, mode).save(handle, format="PNG", pnginfo=info)

    try:
        return write_atomically(directory, encode, target, suffix=".png.part")
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise OutputError(f"Could not write the image to {directory}: {reason}.") from exc


def image_stem(seed: int, when: datetime | None = None) -> str:
    when = when or datetime.now()
    return f"{when:%Y%m%d-%H%M%S}-{seed}"


def _free_name(directory: Path, stem: str) -> Path:
    candidate = directory / f"{stem}.png"
    counter = 1
    while candidate.exists():
        candidate = directory / f"{stem}-{counter}.png"
        counter += 1
    return candidate
