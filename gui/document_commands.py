"""The document's undo steps. Each keeps as little as it can: a stroke or fill the box it
touched (before and after), a layer operation references to the layer objects (which only the
steps on the stack ever change), a mask operation a copy of the mask."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtGui import QUndoCommand

from .layers import Layer
from .mask_brush import Box

if TYPE_CHECKING:
    from .document import Document

OPACITY_ID = 1801  # consecutive opacity changes of one layer merge (QUndoCommand.id)


@dataclass(frozen=True, eq=False)
class Stack:
    layers: tuple[Layer, ...]
    active: int
    mask: np.ndarray | None  # None: the step leaves the mask alone
    blank: bool


class StackCommand(QUndoCommand):
    """Any change of which layers there are, their order, the size, or the whole mask."""

    def __init__(self, doc: Document, after: Stack, text: str) -> None:
        super().__init__(text)
        self.doc = doc
        self.before = doc._stack(with_mask=after.mask is not None)
        self.after = after

    def redo(self) -> None:
        self.doc._set_stack(self.after)

    def undo(self) -> None:
        self.doc._set_stack(self.before)


class PixelsCommand(QUndoCommand):
    """A stroke or fill on one layer, already applied: keeps its box before and after."""

    def __init__(self, doc: Document, layer: Layer, box: Box, before: np.ndarray, text: str):
        super().__init__(text)
        x0, y0, x1, y1 = box
        self.doc, self.layer, self.box = doc, layer, box
        self.before = before.copy()
        self.after = layer.pixels[y0:y1, x0:x1].copy()
        self.blank = doc.is_blank

    def _put(self, pixels: np.ndarray, blank: bool) -> None:
        x0, y0, x1, y1 = self.box
        self.layer.pixels[y0:y1, x0:x1] = pixels
        self.layer.touched()
        self.doc.is_blank = blank
        self.doc._layer_changed(self.layer, self.box)

    def redo(self) -> None:
        self._put(self.after, False)

    def undo(self) -> None:
        self._put(self.before, self.blank)


class PropertyCommand(QUndoCommand):
    """A layer's visibility, opacity or name."""

    def __init__(self, doc: Document, layer: Layer, attr: str, value: Any, text: str) -> None:
        super().__init__(text)
        self.doc, self.layer, self.attr = doc, layer, attr
        self.old, self.new = getattr(layer, attr), value

    def id(self) -> int:
        return OPACITY_ID if self.attr == "opacity" else -1

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, PropertyCommand):
            return False
        if other.layer is not self.layer or other.attr != self.attr:
            return False
        self.new = other.new
        return True

    def _set(self, value: Any) -> None:
        setattr(self.layer, self.attr, value)
        self.doc.layers_changed.emit()
        if self.attr != "name":
            self.doc._layer_changed(self.layer, None)

    def redo(self) -> None:
        self._set(self.new)

    def undo(self) -> None:
        self._set(self.old)


class MaskRegionCommand(QUndoCommand):
    """One mask stroke: keeps only the box the stroke touched, before and after."""

    def __init__(self, doc: Document, before: np.ndarray, box: Box, text: str) -> None:
        super().__init__(text)
        x0, y0, x1, y1 = box
        self.doc, self.box = doc, box
        self.before = before[y0:y1, x0:x1].copy()
        self.after = doc.mask[y0:y1, x0:x1].copy()

    def _put(self, pixels: np.ndarray) -> None:
        x0, y0, x1, y1 = self.box
        self.doc.mask[y0:y1, x0:x1] = pixels
        self.doc.mask_changed.emit(self.box)

    def redo(self) -> None:
        self._put(self.after)

    def undo(self) -> None:
        self._put(self.before)
