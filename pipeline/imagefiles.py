"""Reading images that users give us (init images, masks, canvases): clear errors, no surprises.

Images come from anywhere, so they are untrusted: the size is checked from the header before
any pixel is decoded (a decompression bomb is a few KB that would expand to gigabytes).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageInputError

MAX_SIDE = 16_384  # px; the canvas can be generated at up to 4096, larger images are scaled
MAX_PIXELS = 8192 * 8192  # 64 Mpx ≈ 200 MB as RGB: beyond it, refuse rather than swap


def read_image(path: Path, mode: str = "RGB") -> np.ndarray:
    """Reads `path` as an H×W×3 (mode "RGB") or H×W (mode "L") uint8 array.

    EXIF orientation is applied, so a phone photo appears the way the phone showed it.
    """
    name = Path(path).name
    try:
        with warnings.catch_warnings():  # PIL warns of large images; we refuse them ourselves
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
        with image:
            check_image_size(image.size, name)
            image.load()
            return np.asarray(ImageOps.exif_transpose(image).convert(mode)).copy()
    except FileNotFoundError:
        raise ImageInputError(f"Image not found: {path}") from None
    except IsADirectoryError:
        raise ImageInputError(f"{path} is a folder, not an image.") from None
    except Image.DecompressionBombError:
        raise ImageInputError(
            f"{name} is too large to open safely (more than {MAX_PIXELS:,} pixels)."
        ) from None
    except UnidentifiedImageError:
        raise ImageInputError(
            f"Could not read image {name}: it is not a PNG, JPEG, WebP, BMP or TIFF file, or it "
            "is damaged."
        ) from None
    except ValueError as exc:
        if "MAX_TEXT" in str(exc):  # PIL's cap on text chunks, itself a bomb defence
            raise ImageInputError(
                f"Could not read image {name}: it carries over 1 MB of text metadata, which "
                "Brushwork does not read (a defence against decompression bombs)."
            ) from None
        raise ImageInputError(f"Could not read image {name}: {exc}") from None
    except (OSError, SyntaxError, EOFError) as exc:
        raise ImageInputError(f"Could not read image {name}: {exc}") from None


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
