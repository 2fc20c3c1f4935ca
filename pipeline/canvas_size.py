"""Images of any size, generated at a size the model accepts and scaled back.

Latents are 8× smaller than the image, so generation sizes are multiples of 8. A canvas (GUI)
or init image (CLI) of another size is generated at the nearest multiple of 8 on each side and
the result is scaled back to the image's own size: both front ends use these functions.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from .fields import snap_to_multiple


def generation_size(width: int, height: int) -> tuple[int, int]:
    """The nearest size the model accepts for an image of `width`×`height` (the one rounding
    rule, fields.snap_to_multiple: halves round up)."""
    return snap_to_multiple(width), snap_to_multiple(height)


def scaled_to(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`image` (H×W×3 uint8) at `size` = (width, height); the same array if it already is."""
    if image.shape[1::-1] == tuple(size):
        return image
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))


def size_note(image_size: tuple[int, int], generated: tuple[int, int], what: str) -> str | None:
    """What to tell the user when `what` (e.g. "the init image") is generated at another size."""
    if tuple(image_size) == tuple(generated):
        return None
    (width, height), (gen_width, gen_height) = image_size, generated
    return (
        f"{what} is {width}×{height}; it is generated at {gen_width}×{gen_height} "
        "(multiples of 8) and the result is scaled back."
    )
