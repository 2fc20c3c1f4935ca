"""Colour painting as array operations: soft round dabs with spacing, pressure, eraser, fill.

Like the mask brush (mask_brush.py), a stroke keeps its own coverage and composites it with
`max` over the pixels from before the stroke, so crossing the same spot twice in one stroke does
not build up (Krita's default) and the stroke's opacity is a ceiling, not a per-dab amount.
Tablet pressure scales both the dab size and how opaque it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .layers import erased, over
from .mask_brush import Box, _union, points_between, stamp

FILL_TOLERANCE = 24  # per channel: an antialiased edge of a sketch still stops the fill
MIN_PRESSURE = 0.1  # the lightest touch still leaves a thin, faint mark
TILE = 64  # pixels from before a stroke are kept in tiles of this size


@dataclass(frozen=True)
class PaintSettings:
    size: int = 48  # diameter in image pixels at full pressure
    hardness: float = 0.8
    opacity: float = 1.0
    color: tuple[int, int, int] = (0, 0, 0)
    erase: bool = False


class PaintStroke:
    """One press-drag-release on a layer's `pixels` (H×W×4 uint8 RGBA, changed in place)."""

    def __init__(self, pixels: np.ndarray, settings: PaintSettings) -> None:
        self.pixels = pixels
        self.settings = settings
        # The pixels from before the stroke, copied tile by tile as the stroke first reaches
        # them: a press on a 2048² layer then costs a dab, not a 16 MB copy (np.empty maps
        # pages only when they are written).
        self.before = np.empty_like(pixels)
        self._saved = np.zeros((-(-pixels.shape[0] // TILE), -(-pixels.shape[1] // TILE)), bool)
        self.coverage = np.zeros(pixels.shape[:2], np.float32)  # calloc: untouched pages free
        self.color = np.array(settings.color, np.float32)
        self.last: tuple[float, float, float] | None = None  # x, y, pressure
        self.box: Box | None = None
        self._stamps: dict[tuple[int, int], np.ndarray] = {}

    def to(self, x: float, y: float, pressure: float = 1.0) -> Box | None:
        """Extends the stroke to (x, y); returns the changed box or None if nothing changed."""
        pressure = min(max(pressure, MIN_PRESSURE), 1.0) if math.isfinite(pressure) else 1.0
        if self.last is None:
            points = [(x, y, pressure)]
        else:
            lx, ly, lp = self.last
            spacing = max(1.0, self.settings.size * min(lp, pressure) * 0.1)
            along = points_between((lx, ly), (x, y), spacing)
            count = len(along)
            points = [(px, py, lp + (pressure - lp) * (k + 1) / count)
                      for k, (px, py) in enumerate(along)]  # fmt: skip
        self.last = (x, y, pressure)
        changed: Box | None = None
        for px, py, pp in points:
            changed = _union(changed, self._dab_at(px, py, pp))
        if changed is not None:
            self._save_before(changed)
            self._composite(changed)
            self.box = _union(self.box, changed)
        return changed

    def before_in_box(self) -> np.ndarray:
        """The pixels from before the stroke within its whole box. Tiles of the box that no
        dab reached are unchanged, so they are copied now."""
        assert self.box is not None
        self._save_before(self.box)
        x0, y0, x1, y1 = self.box
        return self.before[y0:y1, x0:x1]

    def _save_before(self, box: Box) -> None:
        x0, y0, x1, y1 = box
        rows = slice(y0 // TILE, -(-y1 // TILE))
        cols = slice(x0 // TILE, -(-x1 // TILE))
        for ty, tx in np.argwhere(~self._saved[rows, cols]):
            top, left = (rows.start + ty) * TILE, (cols.start + tx) * TILE
            tile = (slice(top, top + TILE), slice(left, left + TILE))
            self.before[tile] = self.pixels[tile]
        self._saved[rows, cols] = True

    def _dab(self, size: int, strength: float) -> np.ndarray:
        key = (size, round(strength * 64))
        if key not in self._stamps:
            self._stamps[key] = stamp(size, self.settings.hardness) * (key[1] / 64)
        return self._stamps[key]

    def _dab_at(self, x: float, y: float, pressure: float) -> Box | None:
        size = max(1, round(self.settings.size * pressure))
        dab = self._dab(size, self.settings.opacity * pressure)
        left, top = round(x - size / 2), round(y - size / 2)
        height, width = self.coverage.shape
        x0, y0 = max(left, 0), max(top, 0)
        x1, y1 = min(left + size, width), min(top + size, height)
        if x0 >= x1 or y0 >= y1:
            return None  # wholly outside the canvas: clipped away
        region = self.coverage[y0:y1, x0:x1]
        np.maximum(region, dab[y0 - top : y1 - top, x0 - left : x1 - left], out=region)
        return (x0, y0, x1, y1)

    def _composite(self, box: Box) -> None:
        x0, y0, x1, y1 = box
        cover = self.coverage[y0:y1, x0:x1, None]
        base = self.before[y0:y1, x0:x1]
        if self.settings.erase:
            self.pixels[y0:y1, x0:x1] = erased(base, cover)
        else:
            self.pixels[y0:y1, x0:x1] = over(base, self.color, cover)


def contiguous_region(image: np.ndarray, x: int, y: int) -> np.ndarray:
    """The pixels of `image` (H×W×3 uint8) connected to (x, y) through 4-neighbours of nearly
    the same colour (within FILL_TOLERANCE per channel), grown by one pixel: H×W bool."""
    seed = image[y, x].astype(np.int16)
    similar = (np.abs(image.astype(np.int16) - seed) <= FILL_TOLERANCE).all(axis=2)
    labels, _count = ndimage.label(similar)  # default structure: 4-connected
    # One pixel more all round covers the antialiased edge of the outline that stopped the
    # fill; without it a thin seam of the old colour stays between fill and outline.
    return ndimage.binary_dilation(labels == labels[y, x])


def filled(pixels: np.ndarray, region: np.ndarray, box: Box, settings: PaintSettings) -> np.ndarray:
    """The `box` of `pixels` (H×W×4 uint8) with `region` painted in the settings' colour and
    opacity (or erased, for the eraser)."""
    x0, y0, x1, y1 = box
    cover = region[y0:y1, x0:x1, None].astype(np.float32) * settings.opacity
    base = pixels[y0:y1, x0:x1]
    if settings.erase:
        return erased(base, cover)
    return over(base, np.array(settings.color, np.float32), cover)
