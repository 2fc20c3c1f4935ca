"""The document being edited: the image, the inpaint mask, and their undo history.

Every change goes through a QUndoCommand, so one brush stroke, one mask operation, or one applied
generation result is exactly one undo step. Arrays are owned here; views read them and listen
to the change signals.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from .mask_brush import Box, BrushSettings, Stroke

BLANK = (255, 255, 255)
UNDO_LIMIT = 60


class Document(QObject):
    image_changed = Signal()
    mask_changed = Signal(object)  # Box, or None for the whole mask
    size_changed = Signal(int, int)

    def __init__(self, width: int = 512, height: int = 512) -> None:
        super().__init__()
        self.image = _frozen(np.full((height, width, 3), BLANK, np.uint8))
        self.mask = np.zeros((height, width), np.uint8)
        self.is_blank = True  # nothing opened, pasted or generated yet
        self.undo_stack = QUndoStack(self)
        self.undo_stack.setUndoLimit(UNDO_LIMIT)
        self._stroke: Stroke | None = None
        self._stored = self.image  # the last picture known to be in a file (see mark_stored)

    @property
    def width(self) -> int:
        return self.image.shape[1]

    @property
    def height(self) -> int:
        return self.image.shape[0]

    def mark_stored(self) -> None:
        """The picture now on the canvas is in a file (a saved result, an opened image)."""
        self._stored = self.image

    def has_unstored_changes(self) -> bool:
        """The picture differs from the last one in a file, and is not a plain blank canvas."""
        if self.is_blank or not (self.image != 255).any():
            return False
        return self._stored.shape != self.image.shape or not np.array_equal(
            self._stored, self.image
        )

    def has_mask(self) -> bool:
        return bool(self.mask.any())

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
        self.undo_stack.push(_MaskRegionCommand(self, stroke.before, stroke.box, name))

    # --- whole-mask and image operations -------------------------------------------------------

    def set_mask(self, mask: np.ndarray, text: str) -> None:
        self.undo_stack.push(_SnapshotCommand(self, self.image, mask.astype(np.uint8), text))

    def invert_mask(self) -> None:
        self.set_mask(255 - self.mask, "Invert mask")

    def clear_mask(self) -> None:
        self.set_mask(np.zeros_like(self.mask), "Clear mask")

    def fill_mask(self) -> None:
        self.set_mask(np.full_like(self.mask, 255), "Fill mask")

    def replace(self, image: np.ndarray, text: str, mask: np.ndarray | None = None) -> None:
        """Replaces the image (any size) as one undo step; the mask is kept if the size allows."""
        if mask is None:
            same_size = image.shape[:2] == self.mask.shape
            mask = self.mask if same_size else np.zeros(image.shape[:2], np.uint8)
        self.undo_stack.push(_SnapshotCommand(self, image, mask, text))

    def resize(self, width: int, height: int) -> None:
        """Scales image and mask to `width`×`height` as one undo step."""
        image = Image.fromarray(self.image).resize((width, height), Image.Resampling.LANCZOS)
        mask = Image.fromarray(self.mask).resize((width, height), Image.Resampling.BILINEAR)
        self.replace(np.asarray(image), "Resize canvas", mask=np.asarray(mask))

    def _restore(self, image: np.ndarray, mask: np.ndarray, blank: bool) -> None:
        resized = image.shape != self.image.shape
        repainted = resized or not np.array_equal(image, self.image)
        self.image = _frozen(image)
        self.mask = mask.copy()
        self.is_blank = blank
        if resized:
            self.size_changed.emit(self.width, self.height)
        if repainted:  # a mask operation leaves the picture (and what shows it) alone
            self.image_changed.emit()
        self.mask_changed.emit(None)


class _MaskRegionCommand(QUndoCommand):
    """One stroke: keeps only the box the stroke touched, before and after."""

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


class _SnapshotCommand(QUndoCommand):
    def __init__(self, doc: Document, image: np.ndarray, mask: np.ndarray, text: str) -> None:
        super().__init__(text)
        self.doc = doc
        self.old = (doc.image.copy(), doc.mask.copy(), doc.is_blank)
        self.new = (np.array(image, np.uint8), np.array(mask, np.uint8), False)

    def redo(self) -> None:
        self.doc._restore(*self.new)

    def undo(self) -> None:
        self.doc._restore(*self.old)


def _frozen(image: np.ndarray) -> np.ndarray:
    """A read-only copy: the image is replaced, never changed in place, so readers such as the
    autosave writer may keep a reference instead of copying megabytes on the GUI thread."""
    copy = image.copy()
    copy.flags.writeable = False
    return copy
