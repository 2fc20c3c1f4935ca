"""Writing finished images: atomically, as PNG, with their parameters, never overwriting."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from .atomic import SHARED_MODE, write_atomically
from .errors import OutputError

APP_NAME = "Brushwork"


def default_output_dir() -> Path:
    """`<user data dir>/Brushwork/outputs` (on Linux ~/.local/share/Brushwork/outputs)."""
    import platformdirs

    return platformdirs.user_data_path(APP_NAME, appauthor=False) / "outputs"


def write_png(image: np.ndarray, directory: Path, stem: str, text_chunks: dict[str, str]) -> Path:
    """Writes `image` as `<directory>/<stem>.png` (or `<stem>-N.png` if taken) and returns it."""
    claim = lambda tmp: _claim(tmp, directory, stem)  # noqa: E731
    return _write_atomically(image, directory, text_chunks, claim)


def save_png_as(image: np.ndarray, path: Path, text_chunks: dict[str, str]) -> Path:
    """Writes `image` to exactly `path` (replacing it), as the user asked with "Save as"."""

    def replace(tmp: str) -> Path:
        os.replace(tmp, path)
        return path

    return _write_atomically(image, path.parent, text_chunks, replace)


def _write_atomically(
    image: np.ndarray, directory: Path, text_chunks: dict[str, str], place: Callable[[str], Path]
) -> Path:
    """Writes crash-safely (see atomic.py): a crash leaves either the whole image or nothing,
    never a truncated PNG."""
    info = PngInfo()
    for key, value in text_chunks.items():
        info.add_text(key, value)

    def encode(handle: IO[bytes]) -> None:
        mode = "L" if image.ndim == 2 else "RGB"  # H×W: a grey-level image such as a mask
        if image.ndim == 3 and image.shape[2] == 4:
            mode = "RGBA"  # a layer of the session (gui/session.py)
        Image.fromarray(image, mode).save(handle, format="PNG", pnginfo=info)

    try:
        # Images are the user's files, readable like any other (not mkstemp's private 0600).
        return write_atomically(directory, encode, place, suffix=".png.part", mode=SHARED_MODE)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise OutputError(f"Could not write the image to {directory}: {reason}.") from exc


def image_stem(seed: int, when: datetime | None = None) -> str:
    when = when or datetime.now()
    return f"{when:%Y%m%d-%H%M%S}-{seed}"


def _claim(tmp: str, directory: Path, stem: str) -> Path:
    """Gives the finished file `tmp` the first free name `<stem>.png`, `<stem>-1.png`, …

    Checking that a name is free and then renaming onto it is a race (two writers pick the same
    name and one image is lost: 383 files for 400 writes from 4 threads). A hard link is created
    only if the name does not exist, atomically; where links are not supported (FAT, some
    network shares) the name is claimed by creating it with O_EXCL and then replaced.
    """
    counter = 0
    while True:
        candidate = directory / (f"{stem}.png" if counter == 0 else f"{stem}-{counter}.png")
        counter += 1
        try:
            os.link(tmp, candidate)
        except FileExistsError:
            continue
        except OSError:  # no hard links here
            try:
                os.close(os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
            except FileExistsError:
                continue
            os.replace(tmp, candidate)
            return candidate
        os.unlink(tmp)
        return candidate
