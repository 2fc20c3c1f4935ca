"""What File and Edit do with files and the clipboard: new, open, paste, drop, save, export, and
the history strip's open and delete.

Every failure becomes one plain sentence on `error`; the document changes only once a file was
read completely, so a bad file never costs the canvas.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QMimeData, QObject, Signal
from PySide6.QtGui import QGuiApplication, QImage
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QMessageBox,
    QSpinBox,
    QWidget,
)

from pipeline import BrushworkError
from pipeline.imagefiles import read_image
from pipeline.outputs import save_png_as

from .canvas import Canvas
from .generation import GenerationController
from .history import HistoryStrip
from .images import qimage_to_array
from .model_picker import ModelPicker

MODEL_SUFFIXES = {".safetensors", ".ckpt", ".pt", ".pth", ".bin"}  # refused ones get the reason
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff *.gif)"


class FileActions(QObject):
    error = Signal(str)
    message = Signal(str)  # for the status bar

    def __init__(
        self,
        window: QWidget,
        canvas: Canvas,
        controller: GenerationController,
        model_picker: ModelPicker,
        history: HistoryStrip,
    ) -> None:
        super().__init__(window)
        self.window = window  # the parent of the file dialogs
        self.canvas = canvas
        self.doc = canvas.doc
        self.controller = controller
        self.model_picker = model_picker
        self.history = history

    # --- canvas from a file, the clipboard or a drop -------------------------------------------

    def new_canvas(self) -> None:
        dialog = NewCanvasDialog(self.doc.width, self.doc.height, self.window)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            width, height = dialog.chosen_size()
            self.doc.replace(np.full((height, width, 3), 255, np.uint8), "New canvas")

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Open image", "", IMAGE_FILTER)
        if path:
            self.open_image(Path(path))

    def open_image(self, path: Path) -> bool:
        try:
            image = read_image(path)
        except BrushworkError as exc:
            self.error.emit(str(exc))
            return False
        self.doc.replace(image, f"Open {path.name}")
        self.doc.mark_stored()
        self.canvas.fit()
        self.message.emit(f"Opened {path} ({image.shape[1]}×{image.shape[0]})")
        return True

    def paste_image(self) -> None:
        image = QGuiApplication.clipboard().image()
        if image.isNull():
            self.error.emit("The clipboard holds no image.")
            return
        self.doc.replace(qimage_to_array(image), "Paste image")
        self.canvas.fit()

    @staticmethod
    def accepts_drop(data: QMimeData) -> bool:
        return data.hasUrls() or data.hasImage()

    def drop(self, data: QMimeData) -> None:
        """A dropped model file or folder is added to the picker; an image is opened."""
        if data.hasUrls() and data.urls()[0].isLocalFile():
            path = Path(data.urls()[0].toLocalFile())
            if path.is_dir() or path.suffix.lower() in MODEL_SUFFIXES:
                self.model_picker.add_source(str(path))
            else:
                self.open_image(path)
        elif data.hasImage():
            self.doc.replace(qimage_to_array(QImage(data.imageData())), "Drop image")

    # --- saving --------------------------------------------------------------------------------

    def save_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self.window, "Save image as", "", "PNG (*.png)")
        if path:
            self.save_image(Path(path).with_suffix(".png"))

    def save_image(self, path: Path) -> bool:
        chunks = self.controller.parameters_of_canvas()
        try:
            save_png_as(self.doc.image, path, chunks)
        except BrushworkError as exc:
            self.error.emit(str(exc))
            return False
        self.doc.mark_stored()
        self.message.emit(f"Saved {path}")
        return True

    def export_mask_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self.window, "Export mask", "mask.png", "PNG (*.png)")
        if path:
            self.export_mask(Path(path).with_suffix(".png"))

    def export_mask(self, path: Path) -> bool:
        try:
            save_png_as(np.repeat(self.doc.mask[..., None], 3, axis=2), path, {})
        except BrushworkError as exc:
            self.error.emit(str(exc))
            return False
        self.message.emit(f"Mask exported to {path}")
        return True

    # --- the history strip's images ------------------------------------------------------------

    def show_from_history(self, path: Path) -> None:
        try:
            image = read_image(path)
        except BrushworkError as exc:
            self.error.emit(str(exc))
            return
        self.doc.replace(image, f"Show {path.name}")
        self.doc.mark_stored()
        self.history.mark_on_canvas(path)
        self.message.emit(f"Showing {path}")

    def confirm_delete(self, path: Path) -> bool:
        answer = QMessageBox.question(
            self.window, "Delete image", f"Delete {path.name} from disk? This cannot be undone."
        )
        return answer == QMessageBox.StandardButton.Yes

    def delete_from_history(self, path: Path) -> bool:
        if not self.confirm_delete(path):
            return False
        try:
            path.unlink()
        except OSError as exc:
            self.error.emit(f"Could not delete {path.name}: {exc.strerror or exc}.")
            return False
        self.history.remove(path)
        self.message.emit(f"Deleted {path.name}")
        return True


class NewCanvasDialog(QDialog):
    def __init__(self, width: int, height: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New canvas")
        self.width_box, self.height_box = QSpinBox(), QSpinBox()
        for box, value in ((self.width_box, width), (self.height_box, height)):
            box.setRange(8, 8192)
            box.setSingleStep(8)
            box.setValue(value)
            box.setSuffix(" px")
        form = QFormLayout(self)
        form.addRow("Width", self.width_box)
        form.addRow("Height", self.height_box)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def chosen_size(self) -> tuple[int, int]:
        return self.width_box.value(), self.height_box.value()
