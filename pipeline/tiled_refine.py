"""Tiled diffusion refine of a big image (Ultimate SD Upscale style): img2img in overlapping
tiles of the model's native size, each blended into the image with a feathered edge.

A model redraws well only near its native size, so a large (upscaled) image is re-diffused one
native-size tile at a time. Tiles overlap by `overlap` px, and each tile starts from the image
as already refined by its neighbours, so both sides of an overlap show nearly the same content;
the tile is then blended in with a weight that ramps from 0 to 1 across the overlap with the
tiles refined before it, so no tile edge is a hard line. `overlap=0` gives naive,
edge-to-edge tiles (for comparison: their borders show as seams).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .errors import Cancelled, RequestError
from .request import MIN_SIZE, GenerationRequest, Mode

if TYPE_CHECKING:
    from .engine import Engine

TileProgress = Callable[[int, int], None]  # (tiles done, tiles in all)


@dataclass(frozen=True)
class RefineTiles:
    """Where the tiles go: `size` px squares whose starts are `xs` × `ys`."""

    size: int
    overlap: int
    xs: tuple[int, ...]
    ys: tuple[int, ...]

    @property
    def count(self) -> int:
        return len(self.xs) * len(self.ys)


def plan_tiles(width: int, height: int, size: int, overlap: int) -> RefineTiles:
    """Tile starts covering the image, the first at 0 and the last ending at the edge."""
    if size < MIN_SIZE or size % 8:
        raise RequestError(f"The refine tile must be a multiple of 8 of at least {MIN_SIZE} px.")
    if width < size or height < size:
        raise RequestError(
            f"The image ({width}×{height}) is smaller than one refine tile ({size}×{size}); "
            "upscale it first."
        )
    if not 0 <= overlap <= size // 2:
        raise RequestError(f"The tile overlap must be 0 to {size // 2} px (got {overlap}).")
    return RefineTiles(size, overlap, _starts(width, size, overlap), _starts(height, size, overlap))


def _starts(length: int, size: int, overlap: int) -> tuple[int, ...]:
    """As few tiles as cover `length` with at least `overlap` px between them, spread evenly
    (the spare length widens every overlap alike instead of piling up in the last one)."""
    if length <= size:
        return (0,)
    count = math.ceil((length - overlap) / (size - overlap))
    return tuple(round(i * (length - size) / (count - 1)) for i in range(count))


def refine_tiled(
    engine: Engine,
    image: np.ndarray,
    base: GenerationRequest,
    overlap: int,
    on_tile: TileProgress | None = None,
    cancel: threading.Event | None = None,
) -> np.ndarray:
    """`image` re-diffused tile by tile with `base`'s prompt, model, sampler, steps, guidance,
    strength and seed (the same seed for every tile); the tile size is `base.width`."""
    # The model's own sampler and CFG where `base` leaves them "not given" (the engine's
    # first pass does this in `run`; tiles go straight to `_generate`).
    base = base.resolved(engine.load(base.model).defaults)
    height, width = image.shape[:2]
    tiles = plan_tiles(width, height, base.width, overlap)
    current = np.array(image, dtype=np.float32)
    done = 0
    for y in tiles.ys:
        for x in tiles.xs:
            if cancel is not None and cancel.is_set():
                raise Cancelled("Refine cancelled; the image is unchanged.")
            crop = np.clip(np.round(current[y : y + tiles.size, x : x + tiles.size]), 0, 255)
            request = base.replace(
                mode=Mode.IMG2IMG,
                init_image=crop.astype(np.uint8),
                height=tiles.size,
                batch_size=1,
                hires_scale=0.0,
            )
            refined = engine._generate(request, None, cancel)[0][0]
            weight = _feather(tiles, x, y)[..., None]
            region = current[y : y + tiles.size, x : x + tiles.size]
            region += weight * (refined.astype(np.float32) - region)
            done += 1
            if on_tile is not None:
                on_tile(done, tiles.count)
    return np.clip(np.round(current), 0, 255).astype(np.uint8)


def _feather(tiles: RefineTiles, x: int, y: int) -> np.ndarray:
    """The tile's blend weight: rising from 0 to 1 across the overlap on the sides that meet an
    already refined neighbour (left and top, as tiles go in rows), 1 elsewhere. Its right and
    bottom edges stay at full weight: the next tiles blend over them the same way."""
    size, ramp = tiles.size, tiles.overlap
    if ramp == 0:
        return np.ones((size, size), np.float32)
    rise = np.minimum(1.0, (np.arange(size, dtype=np.float32) + 0.5) / ramp)
    along_x = rise if x > 0 else np.ones(size, np.float32)
    along_y = rise if y > 0 else np.ones(size, np.float32)
    return np.outer(along_y, along_x).astype(np.float32)
