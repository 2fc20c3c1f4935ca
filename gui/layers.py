"""Layers and how they are flattened, as array operations (no Qt, testable pixel by pixel).

A layer is straight (not premultiplied) RGBA so that erasing and painting back keeps colours.
The flattened picture is the visible non-control layers, bottom to top, "over" a white ground
(the blank canvas's colour), computed for one box at a time so a dab costs only its own pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .mask_brush import Box

LAYER_KINDS = ("image", "paint", "control")
GROUND = 255.0  # what shows through where every layer is transparent (white, as a blank canvas)


@dataclass(eq=False)  # identity, not pixel equality: undo steps hold layers by reference
class Layer:
    name: str
    kind: str  # "image", "paint" or "control" (control layers never reach the picture)
    pixels: np.ndarray  # H×W×4 uint8 RGBA; changed only by the Document, through undo steps
    visible: bool = True
    opacity: float = 1.0
    _frozen: np.ndarray | None = field(default=None, repr=False)

    def copy(self) -> Layer:
        return Layer(self.name, self.kind, self.pixels.copy(), self.visible, self.opacity)

    def touched(self) -> None:
        """Its pixels were changed in place: the next snapshot copies them again."""
        self._frozen = None

    def snapshot(self) -> np.ndarray:
        """A read-only copy of the pixels, made again only after they change (autosave copies
        every layer on the GUI thread; unchanged layers then cost nothing)."""
        if self._frozen is None:
            self._frozen = self.pixels.copy()
            self._frozen.flags.writeable = False
        return self._frozen


def rgba(pixels: np.ndarray) -> np.ndarray:
    """An H×W×4 uint8 copy of an H×W×3 (opaque) or H×W×4 array; ValueError for anything else."""
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] not in (3, 4):
        raise ValueError(f"layer pixels must be H×W×3 or H×W×4 uint8, not {pixels.shape}")
    if pixels.shape[2] == 4:
        return np.ascontiguousarray(pixels).copy()
    alpha = np.full((*pixels.shape[:2], 1), 255, np.uint8)
    return np.concatenate([pixels, alpha], axis=2)


def transparent(height: int, width: int) -> np.ndarray:
    return np.zeros((height, width, 4), np.uint8)


def flatten_into(layers: list[Layer], out: np.ndarray, box: Box | None = None) -> None:
    """Writes the flattened visible non-control `layers` into `out` (H×W×3 uint8) over `box`.

    An opaque layer at full opacity gives its own pixels exactly (alpha 1.0 is exact in
    float32), so a result placed as a layer shows bit for bit what the engine returned."""
    height, width = out.shape[:2]
    x0, y0, x1, y1 = box if box is not None else (0, 0, width, height)
    # Bands of rows keep the float temporaries in cache (a whole 2048² float image is 48 MB).
    band = max(1, BAND_PIXELS // max(x1 - x0, 1))
    for top in range(y0, y1, band):
        _flatten_band(layers, out, (x0, top, x1, min(top + band, y1)))


BAND_PIXELS = 1 << 16


def _flatten_band(layers: list[Layer], out: np.ndarray, box: Box) -> None:
    x0, y0, x1, y1 = box
    if x0 >= x1 or y0 >= y1:
        return
    shown = [layer for layer in layers
             if layer.visible and layer.kind != "control" and layer.opacity > 0]  # fmt: skip
    # Start from the topmost layer that covers the band completely: nothing below it shows.
    start, region = 0, None
    for index in reversed(range(len(shown))):
        pixels = shown[index].pixels[y0:y1, x0:x1]
        if shown[index].opacity >= 1 and (pixels[..., 3] == 255).all():
            start, region = index + 1, pixels[..., :3].astype(np.float32)
            break
    if region is None:
        region = np.full((y1 - y0, x1 - x0, 3), GROUND, np.float32)
    for layer in shown[start:]:
        pixels = layer.pixels[y0:y1, x0:x1]
        alpha = pixels[..., 3:4].astype(np.float32)
        if not alpha.any():
            continue  # an empty paint layer over this box costs nothing more
        alpha *= layer.opacity
        alpha /= 255.0
        region += (pixels[..., :3] - region) * alpha
    np.rint(region, out=region)
    out[y0:y1, x0:x1] = region.astype(np.uint8)


def over(base: np.ndarray, color: np.ndarray, cover: np.ndarray) -> np.ndarray:
    """`color` (3 floats or H×W×3) at coverage `cover` (H×W×1 in 0..1) painted over straight
    RGBA `base` (H×W×4 uint8); the result as uint8."""
    base_f = base.astype(np.float32)
    base_alpha = base_f[..., 3:4] / 255.0
    out_alpha = cover + base_alpha * (1.0 - cover)
    weight_below = base_alpha * (1.0 - cover)
    safe = np.where(out_alpha > 0, out_alpha, 1.0)
    rgb = (color * cover + base_f[..., :3] * weight_below) / safe
    rgb = np.where(out_alpha > 0, rgb, base_f[..., :3])
    return np.rint(np.concatenate([rgb, out_alpha * 255.0], axis=2)).astype(np.uint8)


def erased(base: np.ndarray, cover: np.ndarray) -> np.ndarray:
    """`base` (H×W×4 uint8) with its alpha taken away by `cover` (H×W×1 in 0..1)."""
    out = base.copy()
    alpha = base[..., 3:4].astype(np.float32) * (1.0 - cover)
    out[..., 3:4] = np.rint(alpha).astype(np.uint8)
    return out


def merged(lower: Layer, upper: Layer) -> np.ndarray:
    """The pixels of `upper` (at its opacity, if visible) painted over `lower`'s own pixels."""
    if not upper.visible or upper.opacity <= 0:
        return lower.pixels.copy()
    cover = upper.pixels[..., 3:4].astype(np.float32) * upper.opacity / 255.0
    return over(lower.pixels, upper.pixels[..., :3].astype(np.float32), cover)


def bounding_box(region: np.ndarray) -> Box | None:
    """The smallest box holding every True of an H×W bool array, or None if there is none."""
    rows = np.flatnonzero(region.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(region.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1
