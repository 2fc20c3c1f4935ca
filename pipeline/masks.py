"""Mask and composite operations for inpainting and outpainting (pure numpy/PIL, no torch).

Masks are H×W uint8 arrays where 255 means "regenerate"; values of 128 and above count as masked
(diffusers binarizes at 0.5 too). Distances are Euclidean, computed exactly up to the radius an
operation needs, so the cost grows with that radius, not with the image's largest distance.

Why each step exists:
- grow/shrink: users paint roughly; a few pixels of growth hide the old object's outline.
- feather: a hard paste leaves an 8-px staircase (latents are 8× smaller than pixels); a soft band
  *outside* the mask blends it away while every painted pixel is still fully regenerated.
- paste-back: pixels the user did not ask to change must come back bit-identical, not as a VAE
  round trip of themselves.
- seam repair: generated content often has a slight colour cast where it meets the original.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

MASK_THRESHOLD = 128


class Box(NamedTuple):
    """A rectangle in image pixels: x, y, width, height (a tuple, so it serves as a region)."""

    x: int
    y: int
    width: int
    height: int

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y, self.y + self.height), slice(self.x, self.x + self.width)


def binary(mask: np.ndarray) -> np.ndarray:
    """The mask as booleans: True where the pixel is to be regenerated."""
    return np.asarray(mask) >= MASK_THRESHOLD


def to_uint8(mask: np.ndarray) -> np.ndarray:
    return np.where(mask, 255, 0).astype(np.uint8)


def distance_to(target: np.ndarray, limit: int) -> np.ndarray:
    """Euclidean distance from each pixel to the nearest True pixel of `target`.

    Exact up to `limit`; farther pixels (and all pixels if `target` is empty) get `limit + 1`.
    Two separable passes over shifted copies: O(limit × pixels), no scipy needed.
    """
    target = np.asarray(target, dtype=bool)
    far = float(limit + 1)
    if limit <= 0 or not target.any():
        return np.where(target, 0.0, far).astype(np.float32)
    height, width = target.shape
    row = np.where(target, 0.0, far).astype(np.float32)
    for dx in range(1, min(limit, width - 1) + 1):
        hit = np.zeros_like(target)
        hit[:, dx:] |= target[:, :-dx]
        hit[:, :-dx] |= target[:, dx:]
        np.minimum(row, np.where(hit, np.float32(dx), np.float32(far)), out=row)
    squared = row * row
    best = squared.copy()
    for dy in range(1, min(limit, height - 1) + 1):
        np.minimum(best[dy:], squared[:-dy] + dy * dy, out=best[dy:])
        np.minimum(best[:-dy], squared[dy:] + dy * dy, out=best[:-dy])
    distance = np.sqrt(best)
    # Beyond the limit the scan saw only part of the neighbourhood: report "far", not a guess.
    return np.where(distance > limit, np.float32(far), distance).astype(np.float32)


def grow_mask(mask: np.ndarray, pixels: int) -> np.ndarray:
    """Grows the mask by `pixels` (a disc, Euclidean); negative values shrink it.

    Returns a uint8 0/255 mask. The image border is not "outside": a mask touching it stays so.
    """
    masked = binary(mask)
    if pixels > 0:
        masked = distance_to(masked, pixels) <= pixels
    elif pixels < 0:
        masked = ~(distance_to(~masked, -pixels) <= -pixels)
    return to_uint8(masked)


def feather_mask(mask: np.ndarray, radius: int) -> np.ndarray:
    """Alpha (float32, 0…1) for pasting back: 1 on the mask, falling smoothly to 0 outside it.

    The band lies outside the mask, so every pixel the user painted is fully regenerated; alpha
    is 0 exactly where the distance to the mask exceeds `radius`, and never increases with
    distance. Pixels at distance d (1 ≤ d ≤ radius) get smoothstep((radius + 1 - d)/(radius + 1)).
    """
    masked = binary(mask)
    if radius <= 0:
        return masked.astype(np.float32)
    distance = distance_to(masked, radius)
    t = np.clip((radius + 1 - distance) / (radius + 1), 0.0, 1.0)
    alpha = t * t * (3 - 2 * t)
    return np.where(distance <= radius, alpha, 0.0).astype(np.float32)


def cover_cells(mask: np.ndarray, cell: int = 8) -> np.ndarray:
    """The mask widened to whole `cell`×`cell` blocks: a block is masked if any pixel of it is.

    diffusers shrinks the inpaint mask to latent size by nearest-neighbour sampling, one pixel
    per 8×8 block, so a block only partly painted (a thin stroke, the rim of a mask) may not be
    regenerated at all and the old content would survive under the paste. Returns uint8 0/255.
    """
    masked = binary(mask)
    height, width = masked.shape
    padded = np.pad(masked, ((0, -height % cell), (0, -width % cell)))
    rows, cols = padded.shape[0] // cell, padded.shape[1] // cell
    blocks = padded.reshape(rows, cell, cols, cell).any(axis=(1, 3))
    covered = blocks.repeat(cell, axis=0).repeat(cell, axis=1)[:height, :width]
    return to_uint8(covered)


def bounding_box(mask: np.ndarray) -> Box | None:
    """The smallest box holding every masked pixel, or None for an empty mask."""
    masked = binary(mask)
    rows, cols = np.flatnonzero(masked.any(axis=1)), np.flatnonzero(masked.any(axis=0))
    if rows.size == 0:
        return None
    return Box(int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1))


def inpaint_region(
    mask: np.ndarray,
    padding: int,
    image_size: tuple[int, int],
    multiple: int = 8,
    aspect: float | None = None,
) -> Box:
    """The crop that "only masked" inpainting generates: mask bounding box + `padding`.

    `image_size` is (width, height). With `aspect` (width/height of the generation size) the
    shorter side is widened so the crop is not distorted when scaled (as A1111 does). Edges are
    then snapped outward to multiples of `multiple` (latent cells) and clamped to the image, so
    the right/bottom edge is a multiple or the image edge. An empty mask gives the whole image.
    """
    width, height = image_size
    box = bounding_box(mask)
    if box is None:
        return Box(0, 0, width, height)
    left, top = box.x - padding, box.y - padding
    right, bottom = box.x + box.width + padding, box.y + box.height + padding
    if aspect is not None:
        left, right = _widen(left, right, (bottom - top) * aspect, width)
        top, bottom = _widen(top, bottom, (right - left) / aspect, height)
    left, top = max(0, left // multiple * multiple), max(0, top // multiple * multiple)
    right = min(width, -(-right // multiple) * multiple)
    bottom = min(height, -(-bottom // multiple) * multiple)
    return Box(left, top, right - left, bottom - top)


def _widen(low: int, high: int, wanted: float | int, limit: int) -> tuple[int, int]:
    """Widens [low, high) to `wanted` length around its centre, shifted to stay in [0, limit)."""
    wanted = min(round(wanted), limit)
    extra = wanted - (high - low)
    if extra <= 0:
        return low, high
    low, high = low - extra // 2, high + extra - extra // 2
    if low < 0:
        low, high = 0, high - low
    if high > limit:
        low, high = max(0, low - (high - limit)), limit
    return low, high


def paste_back(original: np.ndarray, generated: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """original × (1 − alpha) + generated × alpha, rounded; where alpha is 0 the result is the
    original pixel itself (not a float round trip of it), where it is 1 the generated one."""
    original = np.asarray(original, dtype=np.uint8)
    weight = np.asarray(alpha, dtype=np.float32)[..., None]
    low = original.astype(np.float32)
    blended = low + (np.asarray(generated, dtype=np.float32) - low) * weight
    blended = np.clip(np.round(blended), 0, 255).astype(np.uint8)
    return np.where(weight > 0, blended, original)


def box_blur(values: np.ndarray, radius: int) -> np.ndarray:
    """Sum over the (2r+1)² window around each pixel, zero outside the image (cumsum, O(pixels)).

    Divide by the same sum over a support mask to get a mean (normalized convolution).
    """
    result = np.asarray(values, dtype=np.float64)
    for axis in (0, 1):
        pad = [(0, 0)] * result.ndim
        pad[axis] = (radius + 1, radius)
        summed = np.cumsum(np.pad(result, pad), axis=axis)
        size = result.shape[axis]
        upper = np.take(summed, np.arange(2 * radius + 1, 2 * radius + 1 + size), axis=axis)
        lower = np.take(summed, np.arange(size), axis=axis)
        result = upper - lower
    return result


def smooth(image: np.ndarray, radius: int) -> np.ndarray:
    """Two normalized box passes (a triangle kernel): a cheap, edge-aware-enough blur."""
    result = np.asarray(image, dtype=np.float64)
    count = box_blur(np.ones(result.shape[:2]), radius)
    for _ in range(2):
        result = box_blur(result, radius) / (count[..., None] if result.ndim == 3 else count)
    return result


def extend_canvas(
    image: np.ndarray,
    left: int,
    top: int,
    right: int,
    bottom: int,
    overlap: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Outpaint geometry: the image on a larger canvas, and the mask of what to generate.

    The new area is pre-filled by stretching the edge pixels outward and blurring them, so the
    model has the neighbouring colours to continue from (flat grey would pull it to grey; a hard
    mirror would invite it to copy structure). The old pixels are kept exactly. The mask is the
    new area plus `overlap` pixels into the old image along each extended side, so the junction
    itself can be redrawn. Returns (canvas H'×W'×3 uint8, mask H'×W' uint8 0/255).
    """
    if min(left, top, right, bottom, overlap) < 0:
        raise ValueError("extensions and overlap must be 0 or more")
    height, width = image.shape[:2]
    stretched = np.pad(image, ((top, bottom), (left, right), (0, 0)), mode="edge")
    old = np.zeros(stretched.shape[:2], dtype=bool)
    old[top : top + height, left : left + width] = True
    radius = max(2, max(left, top, right, bottom) // 4)
    blurred = np.clip(np.round(smooth(stretched, radius)), 0, 255).astype(np.uint8)
    canvas = np.where(old[..., None], stretched, blurred)
    keep = np.zeros_like(old)
    keep[
        top + (overlap if top else 0) : top + height - (overlap if bottom else 0),
        left + (overlap if left else 0) : left + width - (overlap if right else 0),
    ] = True
    return canvas, to_uint8(~keep)
