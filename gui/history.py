"""The history strip: every image in the outputs folder, newest first, as thumbnails.

The folder is the history, so it survives restarts and includes images made by the CLI.
Thumbnails are decoded a few at a time from a timer so a large folder never delays start-up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QIcon, QPixmap
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QMenu, QWidget

from pipeline import BrushworkError, read_image_info
from pipeline.imagefiles import open_image

from .images import array_to_qimage

THUMB = 96
BATCH = 8  # thumbnails decoded per timer tick
PATH_ROLE = Qt.ItemDataRole.UserRole


class HistoryStrip(QListWidget):
    open_requested = Signal(object)  # Path
    parameters_requested = Signal(object)  # Path
    delete_requested = Signal(object)  # Path

    def __init__(self, folder: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("history")
        self.folder = folder
        self.setViewMode(QListWidget.ViewMode.IconMode)
        self.setFlow(QListWidget.Flow.LeftToRight)
        self.setWrapping(False)
        self.setIconSize(QSize(THUMB, THUMB))
        self.setFixedHeight(THUMB + 28)
        self.setMovement(QListWidget.Movement.Static)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._menu)
        self.itemActivated.connect(lambda item: self.open_requested.emit(self.path_of(item)))
        self.itemClicked.connect(lambda item: self.open_requested.emit(self.path_of(item)))
        self._pending: list[QListWidgetItem] = []
        self._loader = QTimer(self)
        self._loader.setInterval(0)
        self._loader.timeout.connect(self._load_some)

    def path_of(self, item: QListWidgetItem) -> Path:
        return Path(item.data(PATH_ROLE))

    def paths(self) -> list[Path]:
        return [self.path_of(self.item(row)) for row in range(self.count())]

    def reload(self) -> None:
        """Lists the folder's PNGs, newest first; thumbnails follow in the background."""
        self.clear()
        self._pending.clear()
        files = sorted(self.folder.glob("*.png"), key=_mtime, reverse=True)
        for path in files:
            self._pending.append(self._add(path, at_top=False))
        self._loader.start()

    def add_image(self, path: Path) -> None:
        """A new result goes to the front, with its thumbnail made at once."""
        item = self._add(path, at_top=True)
        self._thumbnail(item)
        self.scrollToItem(item)

    def select_path(self, path: Path) -> bool:
        """Selects the item of `path` (e.g. after restoring a session), if it is still there."""
        for row in range(self.count()):
            if self.path_of(self.item(row)) == path:
                self.setCurrentRow(row)
                self.scrollToItem(self.item(row))
                return True
        return False

    def remove(self, path: Path) -> None:
        for row in range(self.count()):
            if self.path_of(self.item(row)) == path:
                self.takeItem(row)
                return

    def _add(self, path: Path, at_top: bool) -> QListWidgetItem:
        item = QListWidgetItem()
        item.setData(PATH_ROLE, str(path))
        item.setToolTip(str(path))
        item.setSizeHint(QSize(THUMB + 8, THUMB + 8))
        if at_top:
            self.insertItem(0, item)
        else:
            self.addItem(item)
        return item

    def _load_some(self) -> None:
        for _ in range(BATCH):
            if not self._pending:
                self._loader.stop()
                return
            item = self._pending.pop(0)
            if self.row(item) >= 0:  # still listed
                self._thumbnail(item)

    def _thumbnail(self, item: QListWidgetItem) -> None:
        try:  # allowed formats only, size checked first: any *.png in the folder is untrusted
            with open_image(self.path_of(item)) as image:
                image.thumbnail((THUMB, THUMB))
                pixels = image.convert("RGB")
                item.setIcon(QIcon(QPixmap.fromImage(array_to_qimage(np.asarray(pixels)))))
        except (BrushworkError, OSError, ValueError, SyntaxError, EOFError):
            item.setText("unreadable")

    def _menu(self, position) -> None:
        item = self.itemAt(position)
        if item is None:
            return
        path = self.path_of(item)
        menu = QMenu(self)
        for text, signal in (
            ("Show on canvas", self.open_requested),
            ("Use parameters", self.parameters_requested),
            ("Delete…", self.delete_requested),
        ):
            action = QAction(text, menu)
            action.triggered.connect(lambda _=False, s=signal: s.emit(path))
            menu.addAction(action)
        menu.exec(self.viewport().mapToGlobal(position))


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def parameters_from_image(path: Path) -> dict[str, Any]:
    """The image's generation parameters as `Parameters` fields (only those it has).

    Raises BrushworkError (ImageInputError) for unreadable files or images without parameters.
    """
    info = read_image_info(path)
    mapping = {
        "prompt": "prompt",
        "negative_prompt": "negative_prompt",
        "steps": "steps",
        "sampler": "sampler",
        "cfg_scale": "guidance",
        "seed": "seed",
        "width": "width",
        "height": "height",
        "mode": "mode",
        "strength": "strength",
    }
    return {field: info[key] for key, field in mapping.items() if info.get(key) is not None}
