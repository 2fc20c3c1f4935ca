"""Writing finished images: atomically, as PNG, with their parameters, never overwriting."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo

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
    """Writes under a temporary name in the same folder, flushes to disk, then renames, so a
    crash leaves either the whole image or nothing, never a truncated PNG."""
    info = PngInfo()
    for key, value in text_chunks.items():
        info.add_text(key, value)
    tmp_name = None
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".", suffix=".png.part", dir=directory)
        with os.fdopen(fd, "wb") as handle:
            Image.fromarray(image, "RGB").save(handle, format="PNG", pnginfo=info)
            handle.flush()
            os.fsync(handle.fileno())
        final = target()
        os.replace(tmp_name, final)
        return final
    except OSError as exc:
        if tmp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
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
