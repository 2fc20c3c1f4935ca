"""The document being edited: a stack of layers, the inpaint mask, and their undo history.

Layers (layers.py) are the image, paint layers above it, and later control layers; the mask is
kept apart from colour. `image` is the flattened picture of the visible non-control layers, the
one thing generation, Save As and autosave's canvas read; it is kept up to date box by box, so a
dab on a 2048² canvas flattens only the pixels it touched.

Every change goes through a QUndoCommand (document_commands.py), so one stroke, one fill, one
layer operation or one applied generation result is exactly one undo step; strokes keep only the
box they touched. `edited` is emitted once after each step that changes the picture (never
during a stroke: dabs emit `image_changed` and `region_changed`).
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoStack

from .document_commands import (
    MaskRegionCommand,
    PixelsCommand,
    PropertyCommand,
    Stack,
    StackCommand,
)
from .layers import Layer, bounding_box, flatten_into, merged, rgba, transparent
from .mask_brush import Box, BrushSettings, Stroke
from .paint_brush import PaintSettings, PaintStroke, contiguous_region, filled

BLANK = (255, 255, 255)
UNDO_LIMIT = 60


class Document(QObject):
    image_changed = Signal()  # the flattened picture changed (also for every dab of a stroke)
    region_changed = Signal(object)  # Box of the picture to redraw, or None for all of it
    mask_changed = Signal(object)  # Box, or None for the whole mask
    size_changed = Signal(int, int)
    layers_changed = Signal()  # the stack, the active layer or a layer's name/visibility/opacity
    edited = Signal()  # once after every user edit that changes the picture (see module doc)

    def __init__(self, width: int = 512, height: int = 512) -> None:
        super().__init__()
        self.layers: list[Layer] = _fresh_layers(np.full((height, width, 3), BLANK, np.uint8))
        self._active = len(self.layers) - 1
        self.mask = np.zeros((height, width), np.uint8)
        self.is_blank = True  # nothing opened, pasted, painted or generated yet
        self.undo_stack = QUndoStack(self)
        self.undo_stack.setUndoLimit(UNDO_LIMIT)
        self._stroke: Stroke | None = None
        self._paint: tuple[Layer, PaintStroke] | None = None
        self._composite = np.full((height, width, 3), BLANK, np.uint8)
        self._image: np.ndarray | None = None  # read-only copy of _composite, made on demand
        self._stored = self.image  # the last picture known to be in a file (see mark_stored)

    # --- the picture -----------------------------------------------------------------------------

    @property
    def image(self) -> np.ndarray:
        """The flattened visible layers, H×W×3 uint8, read-only. A new array after every change,
        so a reader (the autosave writer) may keep it without copying."""
        if self._image is None:
            self._image = self._composite.copy()
            self._image.flags.writeable = False
        return self._image

    @property
    def width(self) -> int:
        return self._composite.shape[1]

    @property
    def height(self) -> int:
        return self._composite.shape[0]

    def mark_stored(self) -> None:
        """The picture now on the canvas is in a file (a saved result, an opened image)."""
        self._stored = self.image

    def has_unstored_changes(self) -> bool:
        """The picture differs from the last one in a file, and is not a plain blank canvas."""
        image = self.image
        if self.is_blank or not (image != 255).any():
            return False
        return self._stored.shape != image.shape or not np.array_equal(self._stored, image)

    def has_mask(self) -> bool:
        return bool(self.mask.any())

    def pick(self, x: float, y: float) -> tuple[int, int, int] | None:
        """The flattened picture's colour at (x, y), or None outside the canvas."""
        point = self._pixel(x, y)
        if point is None:
            return None
        r, g, b = (int(v) for v in self._composite[point[1], point[0]])
        return r, g, b

    def _pixel(self, x: float, y: float) -> tuple[int, int] | None:
        if not (math.isfinite(x) and math.isfinite(y)):
            return None
        ix, iy = math.floor(x), math.floor(y)
        if 0 <= ix < self.width and 0 <= iy < self.height:
            return ix, iy
        return None

    def image_region(self, box: Box) -> np.ndarray:
        """A read-only view of the picture within `box`, for views that redraw one dab (no
        copy of the whole picture, unlike `image`)."""
        x0, y0, x1, y1 = box
        view = self._composite[y0:y1, x0:x1]
        view.flags.writeable = False
        return view

    def _refresh(self, box: Box | None) -> None:
        """Flattens `box` (None: everything) again and tells the views."""
        flatten_into(self.layers, self._composite, box)
        self._image = None
        self.region_changed.emit(box)
        self.image_changed.emit()

    # --- layers --------------------------------------------------------------------------------

    @property
    def active_layer(self) -> Layer:
        return self.layers[self._active]

    @property
    def active_index(self) -> int:
        return self._active

    def set_active(self, layer: Layer | int) -> None:
        """Chooses the layer tools act on (not an undo step, as in Krita)."""
        index = layer if isinstance(layer, int) else self.layers.index(layer)
        if 0 <= index < len(self.layers) and index != self._active:
            self._active = index
            self.layers_changed.emit()

    def layer_pixels(self, kind: str) -> list[Layer]:
        """The visible layers of one kind, bottom to top (control reads "control" layers)."""
        return [layer for layer in self.layers if layer.kind == kind and layer.visible]

    def add_layer(self, pixels: np.ndarray, name: str, kind: str = "paint") -> Layer:
        """A new layer above the active one, made active; one undo step. `pixels` H×W×3 or
        H×W×4 uint8 at the document's size (ValueError otherwise)."""
        if pixels.shape[:2] != (self.height, self.width):
            raise ValueError(
                f"a {pixels.shape[1]}×{pixels.shape[0]} layer does not fit the "
                f"{self.width}×{self.height} canvas"
            )
        layer = Layer(name, kind, rgba(pixels))
        layers = list(self.layers)
        layers.insert(self._active + 1, layer)
        self._push_stack(layers, self._active + 1, f"Add layer {name}")
        return layer

    def new_layer(self) -> Layer:
        """An empty paint layer above the active one."""
        return self._new_empty_layer("Paint", "paint")

    def new_control_layer(self) -> Layer:
        """An empty control layer above the active one (gui/control_layers.py)."""
        return self._new_empty_layer("Control", "control")

    def _new_empty_layer(self, prefix: str, kind: str) -> Layer:
        names = {layer.name for layer in self.layers}
        number = next(n for n in range(1, len(names) + 2) if f"{prefix} {n}" not in names)
        return self.add_layer(transparent(self.height, self.width), f"{prefix} {number}", kind)

    def delete_layer(self, layer: Layer | None = None) -> str | None:
        """Deletes `layer` (default: the active one); a sentence if it cannot be."""
        layer = layer or self.active_layer
        if len(self.layers) == 1:
            return "The only layer cannot be deleted."
        index = self.layers.index(layer)
        layers = [each for each in self.layers if each is not layer]
        self._push_stack(layers, min(max(index - 1, 0), len(layers) - 1), f"Delete {layer.name}")
        return None

    def move_layer(self, layer: Layer, delta: int) -> bool:
        """Moves `layer` up (+1) or down (-1) the stack; False at the top or bottom."""
        index = self.layers.index(layer)
        target = index + delta
        if not 0 <= target < len(self.layers) or delta == 0:
            return False
        layers = list(self.layers)
        layers.insert(target, layers.pop(index))
        active = layers.index(self.active_layer)
        self._push_stack(layers, active, f"Move {layer.name} {'up' if delta > 0 else 'down'}")
        return True

    def merge_down(self, layer: Layer | None = None) -> str | None:
        """Paints `layer` (default: the active one) into the one below; a sentence if not."""
        layer = layer or self.active_layer
        index = self.layers.index(layer)
        if index == 0:
            return f"“{layer.name}” is the bottom layer: there is nothing below to merge into."
        lower = self.layers[index - 1]
        result = Layer(lower.name, lower.kind, merged(lower, layer), lower.visible, lower.opacity)
        layers = [*self.layers[: index - 1], result, *self.layers[index + 1 :]]
        self._push_stack(layers, index - 1, f"Merge {layer.name} down")
        return None

    def set_visible(self, layer: Layer, visible: bool) -> None:
        if layer.visible != visible:
            text = f"{'Show' if visible else 'Hide'} {layer.name}"
            self.undo_stack.push(PropertyCommand(self, layer, "visible", visible, text))

    def set_opacity(self, layer: Layer, opacity: float) -> None:
        """Consecutive changes of one layer's opacity (a slider drag) merge into one step."""
        opacity = min(max(float(opacity), 0.0), 1.0) if math.isfinite(opacity) else 1.0
        if layer.opacity != opacity:
            text = f"Opacity of {layer.name}"
            self.undo_stack.push(PropertyCommand(self, layer, "opacity", opacity, text))

    def rename(self, layer: Layer, name: str) -> None:
        name = " ".join(name.split())[:80]
        if name and name != layer.name:
            self.undo_stack.push(PropertyCommand(self, layer, "name", name, f"Rename {name}"))

    def session_layers(self) -> list[Layer]:
        """The layers with read-only pixels that later edits do not touch (for autosave)."""
        return [
            Layer(each.name, each.kind, each.snapshot(), each.visible, each.opacity)
            for each in self.layers
        ]

    # --- colour painting and fill --------------------------------------------------------------

    def begin_paint(
        self, settings: PaintSettings, x: float, y: float, pressure: float = 1.0
    ) -> str | None:
        """Starts a stroke on the active layer; a sentence (and no stroke) if it is hidden."""
        layer = self.active_layer
        if not layer.visible:
            return f"“{layer.name}” is hidden: show it (the box in Layers) to paint on it."
        self._paint = (layer, PaintStroke(layer.pixels, settings))
        self.paint_to(x, y, pressure)
        return None

    def paint_to(self, x: float, y: float, pressure: float = 1.0) -> None:
        if self._paint is None:
            return
        layer, stroke = self._paint
        box = stroke.to(x, y, pressure)
        if box is not None:
            layer.touched()
            self._refresh(box)

    def end_paint(self) -> None:
        painting, self._paint = self._paint, None
        if painting is None or painting[1].box is None:
            return
        layer, stroke = painting
        box, before = stroke.box, stroke.before_in_box()
        name = f"Erase on {layer.name}" if stroke.settings.erase else f"Paint on {layer.name}"
        self.undo_stack.push(PixelsCommand(self, layer, box, before, name))

    @property
    def painting(self) -> bool:
        return self._paint is not None or self._stroke is not None

    def fill(self, settings: PaintSettings, x: float, y: float) -> str | None:
        """Fills the area around (x, y) of nearly one colour in the picture, on the active
        layer, as one undo step; a sentence if nothing can be filled."""
        point = self._pixel(x, y)
        layer = self.active_layer
        if point is None:
            return "Click inside the canvas to fill."
        if not layer.visible:
            return f"“{layer.name}” is hidden: show it (the box in Layers) to fill on it."
        region = contiguous_region(self._composite, *point)
        box = bounding_box(region)
        assert box is not None  # the clicked pixel is always in its own region
        x0, y0, x1, y1 = box
        before = layer.pixels[y0:y1, x0:x1].copy()
        layer.pixels[y0:y1, x0:x1] = filled(layer.pixels, region, box, settings)
        layer.touched()
        self.undo_stack.push(PixelsCommand(self, layer, box, before, f"Fill on {layer.name}"))
        return None

    def fill_mask_region(self, x: float, y: float, erase: bool = False) -> str | None:
        """Adds (or removes) the area of nearly one colour around (x, y) to the mask."""
        point = self._pixel(x, y)
        if point is None:
            return "Click inside the canvas to fill."
        region = contiguous_region(self._composite, *point)
        mask = np.where(region, 0 if erase else 255, self.mask).astype(np.uint8)
        self.set_mask(mask, "Erase mask area" if erase else "Mask area")
        return None

    # --- mask strokes --------------------------------------------------------------------------

    def begin_stroke(self, settings: BrushSettings, x: float, y: float) -> None:
        self._stroke = Stroke(self.mask, settings)
        self.stroke_to(x, y)

    def stroke_to(self, x: float, y: float) -> None:
        if self._stroke is not None:
            box = self._stroke.to(x, y)
            if box is not None:
                self.mask_changed.emit(box)

    def end_stroke(self) -> None:
        stroke, self._stroke = self._stroke, None
        if stroke is None or stroke.box is None:
            return
        name = "Erase mask" if stroke.settings.erase else "Paint mask"
        self.undo_stack.push(MaskRegionCommand(self, stroke.before, stroke.box, name))

    # --- whole-mask operations -----------------------------------------------------------------

    def set_mask(self, mask: np.ndarray, text: str) -> None:
        self._push_stack(self.layers, self._active, text, mask=mask.astype(np.uint8))

    def invert_mask(self) -> None:
        self.set_mask(255 - self.mask, "Invert mask")

    def clear_mask(self) -> None:
        self.set_mask(np.zeros_like(self.mask), "Clear mask")

    def fill_mask(self) -> None:
        self.set_mask(np.full_like(self.mask, 255), "Fill mask")

    # --- whole-document operations -------------------------------------------------------------

    def replace(self, image: np.ndarray, text: str, mask: np.ndarray | None = None) -> None:
        """A new picture (any size) as one undo step: an image layer and an empty paint layer;
        the mask is kept if the size allows."""
        self.load_layers(_fresh_layers(image), text, mask)

    def load_layers(
        self, layers: list[Layer], text: str, mask: np.ndarray | None = None, active: int = -1
    ) -> None:
        """Puts `layers` (all one size, at least one) in place of the stack, as one undo step."""
        height, width = layers[0].pixels.shape[:2]
        if mask is None or mask.shape != (height, width):
            same_size = (height, width) == self.mask.shape
            mask = self.mask if same_size and mask is None else np.zeros((height, width), np.uint8)
        active = active if 0 <= active < len(layers) else len(layers) - 1
        self._push_stack(list(layers), active, text, mask=mask, blank=False)

    def apply_result(self, image: np.ndarray, text: str, as_layer: bool = True) -> None:
        """A generation result: a new layer above the active one (default), or in place of the
        image layer; a result of another size than the canvas becomes a new picture."""
        if image.shape[:2] != (self.height, self.width):
            self.replace(image, text)
        elif as_layer:
            self.add_layer(image, text)
        else:
            self._replace_image_layer(image, text)

    def add_scaled_layer(self, pixels: np.ndarray, name: str) -> Layer:
        """An upscale's result: every layer and the mask are scaled to its size and it goes on
        top of the active layer, all one undo step, so the painting underneath is kept."""
        height, width = pixels.shape[:2]
        layers = [
            Layer(each.name, each.kind, _scaled(each.pixels, width, height), each.visible,
                  each.opacity)
            for each in self.layers
        ]  # fmt: skip
        layer = Layer(name, "image", rgba(pixels))
        layers.insert(self._active + 1, layer)
        mask = Image.fromarray(self.mask).resize((width, height), Image.Resampling.BILINEAR)
        self._push_stack(layers, self._active + 1, name, mask=np.asarray(mask))
        return layer

    def _replace_image_layer(self, image: np.ndarray, text: str) -> None:
        images = [layer for layer in self.layers if layer.kind == "image"]
        if not images:  # the image layer was deleted: the result becomes one again, at the bottom
            layers = [Layer("Image", "image", rgba(image)), *self.layers]
            self._push_stack(layers, self._active + 1, text, blank=False)
            return
        old = images[0]
        new = Layer(old.name, "image", rgba(image), old.visible, old.opacity)
        layers = [new if each is old else each for each in self.layers]
        self._push_stack(layers, self._active, text, blank=False)

    def resize(self, width: int, height: int) -> None:
        """Scales every layer and the mask to `width`×`height` as one undo step."""
        layers = [
            Layer(each.name, each.kind, _scaled(each.pixels, width, height), each.visible,
                  each.opacity)
            for each in self.layers
        ]  # fmt: skip
        mask = Image.fromarray(self.mask).resize((width, height), Image.Resampling.BILINEAR)
        self._push_stack(layers, self._active, "Resize canvas", mask=np.asarray(mask))

    def extend(
        self, canvas: np.ndarray, sides: tuple[int, int, int, int], mask: np.ndarray, text: str
    ) -> None:
        """Outpaint: every layer grows by `sides` (left, top, right, bottom); the bottom layer
        takes `canvas`'s pre-fill in the new area, the others are transparent there. The
        picture then equals `canvas` (whose middle is the old picture)."""
        left, top = sides[0], sides[1]
        height, width = canvas.shape[:2]
        layers = []
        for index, layer in enumerate(self.layers):
            grown = rgba(canvas) if index == 0 else transparent(height, width)
            grown[top : top + self.height, left : left + self.width] = layer.pixels
            layers.append(Layer(layer.name, layer.kind, grown, layer.visible, layer.opacity))
        self._push_stack(layers, self._active, text, mask=mask, blank=False)

    # --- undo plumbing (document_commands.py calls these) --------------------------------------

    def _push_stack(
        self,
        layers: list[Layer],
        active: int,
        text: str,
        mask: np.ndarray | None = None,
        blank: bool | None = None,
    ) -> None:
        # A stroke under way (a result may arrive while the button is held) ends here as its
        # own step: it must not go on into a layer that is about to leave or change size.
        self.end_paint()
        self.end_stroke()
        after = Stack(tuple(layers), active, mask, self.is_blank if blank is None else blank)
        if blank is None and tuple(layers) != tuple(self.layers):
            after = Stack(after.layers, active, mask, False)  # a layer operation is work
        self.undo_stack.push(StackCommand(self, after, text))

    def _stack(self, with_mask: bool) -> Stack:
        mask = self.mask.copy() if with_mask else None
        return Stack(tuple(self.layers), self._active, mask, self.is_blank)

    def _set_stack(self, state: Stack) -> None:
        restacked = state.layers != tuple(self.layers)
        self.layers, self._active, self.is_blank = list(state.layers), state.active, state.blank
        if state.mask is not None:
            self.mask = state.mask.copy()
        height, width = self.layers[0].pixels.shape[:2]
        resized = (height, width) != self._composite.shape[:2]
        if resized:
            self._composite = np.full((height, width, 3), BLANK, np.uint8)
            self.size_changed.emit(width, height)
        if restacked or resized:
            self._refresh(None)
            self.edited.emit()
        self.layers_changed.emit()
        if state.mask is not None:
            self.mask_changed.emit(None)

    def _layer_changed(self, layer: Layer, box: Box | None) -> None:
        """A step changed `layer`'s pixels or looks within `box` (None: wherever it has any)."""
        if box is None:
            box = bounding_box(layer.pixels[..., 3] > 0) or (0, 0, 0, 0)
        if layer in self.layers:
            self._refresh(box)
        self.edited.emit()


def _fresh_layers(image: np.ndarray) -> list[Layer]:
    height, width = image.shape[:2]
    paint = Layer("Paint 1", "paint", transparent(height, width))
    return [Layer("Image", "image", rgba(image)), paint]


def _scaled(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    # Premultiplied while scaling, so transparent pixels lend no colour to the edges.
    image = Image.fromarray(pixels, "RGBA").convert("RGBa")
    return np.asarray(image.resize((width, height), Image.Resampling.LANCZOS).convert("RGBA"))
