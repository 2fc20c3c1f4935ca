"""Images of any size, generated at a size the model accepts and scaled back.

Latents are 8× smaller than the image, so generation sizes are multiples of 8. A canvas (GUI)
or init image (CLI) of another size is generated at the nearest multiple of 8 on each side and
the result is scaled back to the image's own size: both front ends use these functions.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from .request import MAX_SIZE, MIN_SIZE


def snap8(value: int) -> int:
    """`value` rounded to the nearest multiple of 8 (halves up), within the request's limits.

    Kept apart from any other rounding so that one function can replace them all later.
    """
    return min(max(int(value / 8 + 0.5) * 8, MIN_SIZE), MAX_SIZE)


def generation_size(width: int, height: int) -> tuple[int, int]:
    """The nearest size the model accepts for an image of `width`×`height`."""
    return snap8(width), snap8(height)


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
