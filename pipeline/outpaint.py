"""Outpainting as inpainting: extend the canvas, mask the new area, run an inpaint request.

Generation sizes must be multiples of 8 (latents are 8× smaller). When an extended side would
leave the canvas at another size, the extension is rounded up (the rounding is reported, never
silent). A side that is not extended is never grown: if the image's own size along it is not a
multiple of 8, the generation size is rounded instead and the engine scales; paste-back keeps
every old pixel exact either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import RequestError
from .fields import snap_to_multiple
from .masks import extend_canvas
from .request import MAX_SIZE, GenerationRequest, Mode

Sides = tuple[int, int, int, int]  # left, top, right, bottom, in pixels


@dataclass(frozen=True)
class OutpaintJob:
    """The inpaint request to run, the extension actually applied, and a note if it was
    rounded (None otherwise)."""

    request: GenerationRequest
    sides: Sides
    note: str | None


def round_sides(image_size: tuple[int, int], sides: Sides) -> Sides:
    """Grows the extended sides so each extended axis ends on a multiple of 8.

    The missing pixels go to the side that is extended; when both sides of an axis are, they
    are split, the odd one going to the right or bottom.
    """
    left, top, right, bottom = sides
    width, height = image_size
    left, right = _round_axis(width, left, right)
    top, bottom = _round_axis(height, top, bottom)
    return left, top, right, bottom


def _round_axis(size: int, low: int, high: int) -> tuple[int, int]:
    missing = -(size + low + high) % 8
    if not (low or high) or not missing:
        return low, high
    if low and high:
        return low + missing // 2, high + missing - missing // 2
    return (low + missing, high) if low else (low, high + missing)


def outpaint_request(
    image: np.ndarray,
    sides: Sides,
    prompt: str,
    overlap: int = 0,
    **fields: Any,
) -> OutpaintJob:
    """An inpaint request that extends `image` (H×W×3 uint8) by `sides` = (left, top, right,
    bottom) pixels. `fields` are any other GenerationRequest fields; by default the generation
    size is the extended canvas (rounded to a multiple of 8, at least 64) and strength is 1,
    since the new area holds only the pre-fill."""
    _check_sides(sides)
    height, width = image.shape[:2]
    applied = round_sides((width, height), sides)
    left, top, right, bottom = applied
    new_width, new_height = width + left + right, height + top + bottom
    if max(new_width, new_height) > MAX_SIZE and not {"width", "height"} <= fields.keys():
        raise RequestError(
            f"The outpainted canvas would be {new_width}×{new_height}, more than {MAX_SIZE} px; "
            "extend less or give a smaller generation width and height."
        )
    canvas, mask = extend_canvas(image, *applied, overlap=overlap)
    defaults = {
        "width": snap_to_multiple(new_width),
        "height": snap_to_multiple(new_height),
        "strength": 1.0,
    }
    request = GenerationRequest(
        **{**defaults, **fields, "prompt": prompt, "mode": Mode.INPAINT},
        init_image=canvas,
        mask=mask,
    )
    return OutpaintJob(request, applied, _note(sides, applied, request))


def _check_sides(sides: Sides) -> None:
    if len(sides) != 4 or any(isinstance(s, bool) or not isinstance(s, int) for s in sides):
        raise RequestError(
            f"outpaint needs four whole numbers left, top, right, bottom (got {sides})."
        )
    if min(sides) < 0:
        raise RequestError(f"outpaint sides must be 0 or more (got {sides}).")
    if not any(sides):
        raise RequestError("outpaint needs at least one side to extend (got 0,0,0,0).")


def _note(asked: Sides, applied: Sides, request: GenerationRequest) -> str | None:
    height, width = request.init_image.shape[:2]  # type: ignore[union-attr]
    parts = []
    if tuple(asked) != applied:
        parts.append(
            f"extended by {_join(applied)} (left,top,right,bottom) instead of {_join(asked)} "
            "so each extended dimension is a multiple of 8"
        )
    if request.width is not None and (request.width, request.height) != (width, height):
        parts.append(
            f"the {width}×{height} canvas is generated at {request.width}×{request.height} "
            "and scaled back"
        )
    return "outpaint: " + "; ".join(parts) if parts else None


def _join(sides: Sides) -> str:
    return ",".join(str(v) for v in sides)
