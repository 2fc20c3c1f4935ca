"""Control layers: layers the user paints a scribble (or lines) on for a ControlNet unit.

As in Krita AI Diffusion, a control layer is an ordinary layer of the stack (painted with the
brush and eraser, shown or hidden with its box) that a Control unit refers to by name; unlike a
paint layer it is never part of the picture that generation, Save As and Live read
(`Document.image` leaves control layers out). So that the user sees what they paint, the canvas
draws the visible control layers over the picture as a translucent overlay (`ControlOverlay`);
the layer's opacity only changes how strongly it shows there, never what the unit reads.

`control_image` turns a layer into a unit's RGB control image: what the chosen preprocessor
expects from a painted layer (strokes = the layer's opaque pixels).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage

from pipeline.errors import RequestError
from pipeline.preprocess import scribble

from .document import Document
from .layers import Layer, over, transparent
from .mask_brush import Box
from .picture_item import BufferedItem

KIND = "control"
OVERLAY_OPACITY = 0.6  # the picture under a scribble stays visible while painting
OVERLAY_Z = 0.5  # above the picture, below the mask overlay and the preview


def control_layers(doc: Document) -> list[Layer]:
    """Every control layer, hidden ones too (a unit names one; hiding it is told apart)."""
    return [layer for layer in doc.layers if layer.kind == KIND]


def control_image(layer: Layer, module: str, label: str) -> np.ndarray:
    """`layer` as the H×W×3 control image of a unit of type `module`; RequestError when it is
    hidden or empty. `label` ("Unit 0") starts every message."""
    if not layer.visible:
        raise RequestError(
            f"{label}: the control layer “{layer.name}” is hidden: show it (its box in Layers) "
            f"or turn {label} off."
        )
    pixels = layer.pixels
    try:
        strokes = scribble(pixels)  # white on black from the opaque pixels; refuses an empty one
    except RequestError as exc:
        raise RequestError(f"{label}, control layer “{layer.name}”: {exc}") from None
    if module == "scribble":
        return 255 - strokes  # black strokes on white: what the scribble preprocessor reads
    if module == "none":
        return strokes  # the layer already is the control image: white lines on black
    white = np.full((*pixels.shape[:2], 3), 255.0, np.float32)
    cover = pixels[..., 3:4].astype(np.float32) / 255.0
    return np.rint(white + (pixels[..., :3] - white) * cover).astype(np.uint8)  # over white


class ControlOverlay(BufferedItem):
    """The visible control layers, drawn translucent over the canvas's picture; redrawn one
    changed box at a time (a dab on a control layer changes only its box)."""

    FORMAT = QImage.Format.Format_ARGB32_Premultiplied
    BLANK = 0

    def __init__(self, doc: Document) -> None:
        super().__init__(doc)
        self.setZValue(OVERLAY_Z)
        doc.region_changed.connect(self.refresh)
        doc.size_changed.connect(lambda *_: self.rebuild())
        self.rebuild()

    def _fill(self, region: np.ndarray, box: Box) -> None:
        shown = [layer for layer in control_layers(self.doc) if layer.visible and layer.opacity]
        region[:] = _premultiplied_bgra(_composite(shown, box)) if shown else 0

    def alpha(self, x: int, y: int) -> int:
        """The overlay's alpha at (x, y), 0-255 (tests: is the scribble shown there?)."""
        return int(self._buffer[y, x, 3])


def _composite(layers: list[Layer], box: Box) -> np.ndarray:
    """`layers` bottom to top over transparency within `box`, straight RGBA uint8."""
    x0, y0, x1, y1 = box
    out = transparent(y1 - y0, x1 - x0)
    for layer in layers:
        pixels = layer.pixels[y0:y1, x0:x1]
        cover = pixels[..., 3:4].astype(np.float32) * (layer.opacity * OVERLAY_OPACITY / 255.0)
        if cover.any():
            out = over(out, pixels[..., :3].astype(np.float32), cover)
    return out


def _premultiplied_bgra(rgba: np.ndarray) -> np.ndarray:
    # Premultiplied ARGB32 is stored as B, G, R, A bytes on little-endian machines.
    alpha = rgba[..., 3:4].astype(np.float32) / 255.0
    bgr = np.rint(rgba[..., 2::-1].astype(np.float32) * alpha).astype(np.uint8)
    return np.concatenate([bgr, rgba[..., 3:4]], axis=2)
