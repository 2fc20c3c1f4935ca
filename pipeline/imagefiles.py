"""Reading images that users give us (init images, masks, canvases): clear errors, no surprises."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageInputError


def read_image(path: Path, mode: str = "RGB") -> np.ndarray:
    """Reads `path` as an H×W×3 (mode "RGB") or H×W (mode "L") uint8 array.

    EXIF orientation is applied, so a phone photo appears the way the phone showed it.
    """
    try:
        with Image.open(path) as image:
            image.load()
            return np.asarray(ImageOps.exif_transpose(image).convert(mode)).copy()
    except FileNotFoundError:
        raise ImageInputError(f"Image not found: {path}") from None
    except Image.DecompressionBombError as exc:
        raise ImageInputError(f"{Path(path).name} is too large to open safely ({exc}).") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ImageInputError(f"Could not read image {path}: {exc}") from None
