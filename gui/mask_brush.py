"""Mask painting as array operations: soft round stamps, interpolated strokes, no build-up.

Kept free of Qt so strokes can be tested pixel by pixel. A stroke remembers its own coverage and
composites with `max`, so going over the same spot twice in one stroke does not darken it
(Krita's "build-up off"); a fast mouse leaves no gaps because stamps are laid along the segment
between two events, not only at the events.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive), in image pixels


@dataclass(frozen=True)
class BrushSettings:
    size: int = 48  # diameter in image pixels
    hardness: float = 0.8  # 1: hard edge; 0: falls off from the centre
    erase: bool = False


def stamp(size: int, hardness: float) -> np.ndarray:
    """A (size×size) float32 disc: 1 within radius·hardness, smooth falloff to 0 at the radius."""
    radius = size / 2
    centre = (size - 1) / 2
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    distance = np.hypot(xs - centre, ys - centre)
    inner = radius * min(max(hardness, 0.0), 1.0)
    if radius - inner < 0.5:  # hard brush: antialias only the last pixel
        return np.clip(radius - distance + 0.5, 0, 1).astype(np.float32)
    t = np.clip((distance - inner) / (radius - inner), 0, 1)
    return (1 - t * t * (3 - 2 * t)).astype(np.float32)  # smoothstep falloff


def points_between(start: tuple[float, float], end: tuple[float, float], spacing: float):
    """Points from just after `start` up to `end`, `spacing` apart (end always included)."""
    length = math.dist(start, end)
    count = max(1, math.ceil(length / max(spacing, 0.5)))
    return [
        (start[0] + (end[0] - start[0]) * k / count, start[1] + (end[1] - start[1]) * k / count)
        for k in range(1, count + 1)
    ]


class Stroke:
    """One press-drag-release of the brush on `mask` (H×W uint8, 255 = regenerate)."""

    def __init__(self, mask: np.ndarray, settings: BrushSettings) -> None:
        self.mask = mask
        self.settings = settings
        self.before = mask.copy()
        self.coverage = np.zeros(mask.shape, np.float32)
        self.dab = stamp(max(1, settings.size), settings.hardness)
        self.last: tuple[float, float] | None = None
        self.box: Box | None = None

    def to(self, x: float, y: float) -> Box | None:
        """Extends the stroke to (x, y); returns the changed box or None if nothing changed."""
        spacing = max(1.0, self.settings.size * 0.1)
        points = [(x, y)] if self.last is None else points_between(self.last, (x, y), spacing)
        self.last = (x, y)
        changed: Box | None = None
        for px, py in points:
            changed = _union(changed, self._dab_at(px, py))
        if changed is not None:
            self._composite(changed)
            self.box = _union(self.box, changed)
        return changed

    def _dab_at(self, x: float, y: float) -> Box | None:
        size = self.dab.shape[0]
        left, top = round(x - size / 2), round(y - size / 2)
        height, width = self.mask.shape
        x0, y0 = max(left, 0), max(top, 0)
        x1, y1 = min(left + size, width), min(top + size, height)
        if x0 >= x1 or y0 >= y1:
            return None
        region = self.coverage[y0:y1, x0:x1]
        np.maximum(region, self.dab[y0 - top : y1 - top, x0 - left : x1 - left], out=region)
        return (x0, y0, x1, y1)

    def _composite(self, box: Box) -> None:
        x0, y0, x1, y1 = box
        cover = self.coverage[y0:y1, x0:x1]
        base = self.before[y0:y1, x0:x1].astype(np.float32)
        result = base * (1 - cover) if self.settings.erase else np.maximum(base, cover * 255)
        self.mask[y0:y1, x0:x1] = np.round(result).astype(np.uint8)


def _union(a: Box | None, b: Box | None) -> Box | None:
    if a is None:
        return b
    if b is None:
        return a
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
