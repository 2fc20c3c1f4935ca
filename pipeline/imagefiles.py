"""Reading images that users give us (init images, masks, canvases): clear errors, no surprises.

Images come from anywhere, so they are untrusted: only the formats in ALLOWED_FORMATS are ever
tried (Pillow would otherwise hand a PostScript file named `holiday.png` to Ghostscript), and
the size is checked from the header before any pixel is decoded (a decompression bomb is a few
KB that would expand to gigabytes).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageInputError

MAX_SIDE = 16_384  # px; the canvas can be generated at up to 4096, larger images are scaled
MAX_PIXELS = 8192 * 8192  # 64 Mpx ≈ 200 MB as RGB: beyond it, refuse rather than swap
# The only formats Pillow may try, whatever the file's name or first bytes claim. Never EPS/PS
# or PDF (Ghostscript), nor any of Pillow's rarely used decoders.
ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "TIFF", "GIF")
FORMAT_NAMES = "PNG, JPEG, WebP, BMP, TIFF or GIF"


def open_image(path: Path) -> Image.Image:
    """Opens `path` lazily (header only) as one of ALLOWED_FORMATS and checks its size.

    Every image Brushwork reads goes through here: pixels, metadata, thumbnails.
    Raises ImageInputError with a message for the user.
    """
    try:
        with warnings.catch_warnings():  # PIL warns of large images; we refuse them ourselves
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path, formats=ALLOWED_FORMATS)
    except Exception as exc:
        raise explained(exc, path) from None
    try:
        check_image_size(image.size, Path(path).name)
    except ImageInputError:
        image.close()
        raise
    return image


def read_image(path: Path, mode: str = "RGB") -> np.ndarray:
    """Reads `path` as an H×W×3 (mode "RGB") or H×W (mode "L") uint8 array.

    EXIF orientation is applied, so a phone photo appears the way the phone showed it.
    """
    with open_image(path) as image:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                image.load()
                return np.asarray(ImageOps.exif_transpose(image).convert(mode)).copy()
        except Exception as exc:
            raise explained(exc, path) from None


def explained(exc: Exception, path: Path) -> Exception:
    """The user's message for what Pillow raised while opening or decoding `path`; an exception
    that is not about the file (a bug) is returned as it is."""
    name = Path(path).name
    if isinstance(exc, ImageInputError):
        return exc
    if isinstance(exc, FileNotFoundError):
        return ImageInputError(f"Image not found: {path}")
    if isinstance(exc, IsADirectoryError):
        return ImageInputError(f"{path} is a folder, not an image.")
    if isinstance(exc, Image.DecompressionBombError):
        return ImageInputError(
            f"{name} is too large to open safely (more than {MAX_PIXELS:,} pixels)."
        )
    if isinstance(exc, UnidentifiedImageError):
        return ImageInputError(
            f"Could not read image {name}: it is not a {FORMAT_NAMES} file, or it is damaged."
        )
    if isinstance(exc, ValueError) and "MAX_TEXT" in str(exc):
        # PIL's cap on text chunks, itself a bomb defence
        return ImageInputError(
            f"Could not read image {name}: it carries over 1 MB of text metadata, which "
            "Brushwork does not read (a defence against decompression bombs)."
        )
    if isinstance(exc, (OSError, SyntaxError, EOFError, ValueError)):
        return ImageInputError(f"Could not read image {name}: {exc}")
    return exc


def check_image_size(size: tuple[int, int], name: str) -> None:
    """Refuses empty and oversized images before their pixels are decoded."""
    width, height = size
    if width <= 0 or height <= 0:
        raise ImageInputError(f"{name} is empty ({width}×{height} pixels).")
    if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        raise ImageInputError(
            f"{name} is {width}×{height} pixels; Brushwork opens images up to {MAX_SIDE} px a "
            f"side and {MAX_PIXELS // 2**20} megapixels. Scale it down first."
        )
