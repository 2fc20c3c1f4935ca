"""The history strip: every image in the outputs folder, newest first, as thumbnails.

The folder is the history, so it survives restarts and includes images made by the CLI.
Thumbnails are decoded a few at a time from a timer so a large folder never delays start-up.
The image on the canvas has a clear frame around its thumbnail, and each thumbnail's tooltip
says its prompt, seed, size and model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QColor, QIcon, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from pipeline import BrushworkError, fields, read_image_info
from pipeline.imagefiles import open_image

from .images import array_to_qimage

THUMB = 96
BATCH = 8  # thumbnails decoded per timer tick
PATH_ROLE = Qt.ItemDataRole.UserRole
_Index = QModelIndex | QPersistentModelIndex
FRAME_COLOR = QColor(255, 200, 40)  # amber: stands out on the dark strip and on any thumbnail
FRAME_WIDTH = 3


class _FramedThumbnails(QStyledItemDelegate):
    """Draws the thumbnail without the selection's empty bar below it, and a frame around the
    one on the canvas."""

    def __init__(self, strip: HistoryStrip) -> None:
        super().__init__(strip)
        self.strip = strip

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        plain = QStyleOptionViewItem(option)
        plain.state &= ~(QStyle.StateFlag.State_Selected | QStyle.StateFlag.State_HasFocus)
        super().paint(painter, plain, index)
        if index.data(PATH_ROLE) == self.strip.on_canvas:
            painter.save()
            pen = QPen(FRAME_COLOR, FRAME_WIDTH)
            pen.setJoinStyle(Qt.PenJoinStyle.MiterJoin)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            inset = FRAME_WIDTH // 2 + 1
            painter.drawRect(option.rect.adjusted(inset, inset, -inset - 1, -inset - 1))
            painter.restore()


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
        self.setItemDelegate(_FramedThumbnails(self))
        self.on_canvas: str | None = None  # the path of the image on the canvas, if listed
        self.extra_folders: list[Path] = []  # earlier output folders shown too, on request
        self._pending: list[QListWidgetItem] = []
        self._loader = QTimer(self)
        self._loader.setInterval(0)
        self._loader.timeout.connect(self._load_some)

    def path_of(self, item: QListWidgetItem) -> Path:
        return Path(item.data(PATH_ROLE))

    def paths(self) -> list[Path]:
        return [self.path_of(self.item(row)) for row in range(self.count())]

    def mark_on_canvas(self, path: Path | None) -> None:
        """Frames the thumbnail of `path` as the image on the canvas (None: no frame)."""
        marked = str(path) if path is not None else None
        if marked is None and self.on_canvas is None and self.currentRow() == -1:
            return  # every brush dab unmarks: it must not walk a long history each time
        self.on_canvas = marked
        if path is None:
            self.setCurrentRow(-1)
        for row in range(self.count()):
            if self.item(row).data(PATH_ROLE) == self.on_canvas:
                self.setCurrentRow(row)
                self.scrollToItem(self.item(row))
        self.viewport().update()

    def reload(self) -> None:
        """Lists the folder's PNGs (and those of `extra_folders`), newest first; thumbnails
        follow in the background."""
        self.clear()
        self._pending.clear()
        folders = [self.folder, *(f for f in self.extra_folders if f != self.folder)]
        files = sorted((p for f in folders for p in f.glob("*.png")), key=_mtime, reverse=True)
        for path in files:
            self._pending.append(self._add(path, at_top=False))
        self._loader.start()

    def add_image(self, path: Path) -> None:
        """A new result goes to the front, with its thumbnail made at once; it is the image
        on the canvas (the first of a batch is added last)."""
        item = self._add(path, at_top=True)
        self._thumbnail(item)
        self.mark_on_canvas(path)

    def select_path(self, path: Path) -> bool:
        """Selects the item of `path` (e.g. after restoring a session), if it is still there."""
        if path in self.paths():
            self.mark_on_canvas(path)
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
                item.setToolTip(describe(self.path_of(item), image.size))
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


def describe(path: Path, size: tuple[int, int]) -> str:
    """The tooltip of a thumbnail: prompt, seed, size and model, then the file."""
    try:
        info = read_image_info(path)
    except BrushworkError:
        info = {}
    prompt = str(info.get("prompt") or "(no prompt stored)")
    if len(prompt) > 200:
        prompt = prompt[:199] + "…"
    lines = [prompt]
    details = []
    if info.get("seed") is not None:
        details.append(f"seed {info['seed']}")
    details.append(f"{size[0]}×{size[1]}")
    if info.get("model"):
        details.append(f"model {info['model']}")
    lines.append(" · ".join(details))
    lines.append(str(path))
    return "\n".join(lines)


class FolderNotice(QFrame):
    """Says that the strip now lists another output folder, and offers to list both."""

    def __init__(self, strip: HistoryStrip, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("folderNotice")
        self.strip = strip
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.both_button = QPushButton("Show both")
        self.both_button.clicked.connect(self.show_both)
        close = QPushButton("OK")
        close.clicked.connect(self.hide)
        row = QHBoxLayout(self)
        row.setContentsMargins(6, 2, 6, 2)
        row.addWidget(self.text, 1)
        row.addWidget(self.both_button)
        row.addWidget(close)
        self._previous: Path | None = None
        self.hide()

    def folder_changed(self, previous: Path, folder: Path) -> None:
        if previous == folder:
            return
        self._previous = previous
        self.strip.extra_folders = []
        self.text.setText(
            f"The history now shows {folder}, where new images go. "
            f"Those in {previous} are still there."
        )
        self.both_button.show()
        self.show()

    def show_both(self) -> None:
        if self._previous is not None:
            self.strip.extra_folders = [self._previous]
            self.strip.reload()
            self.text.setText(f"The history shows {self.strip.folder} and {self._previous}.")
        self.both_button.hide()


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


# The LoRA list turns an image's LoRAs on again (gui/lora_recall.py); embeddings are used by their
# name in the restored prompt.
RESTORED_ELSEWHERE = ("loras", "embeddings")


def parameters_from_image(path: Path) -> tuple[dict[str, Any], list[str]]:
    """The image's generation parameters that "Use parameters" restores (the field table's
    `recall` fields it has that the panel shows, each checked by the table), and a note per
    value left out.

    Raises BrushworkError (ImageInputError) for unreadable files or images without parameters.
    """
    info = read_image_info(path)
    kept, notes = fields.clean(info, (spec.name for spec in fields.FIELDS if spec.recall))
    for spec in fields.FIELDS:  # recorded, but the panel cannot show it yet: say so
        if spec.name in RESTORED_ELSEWHERE:
            continue
        if not spec.panel and spec.name in kept:
            value = kept.pop(spec.name)
            if value != spec.default:
                notes.append(f"{spec.label} not restored (the panel has no place for it yet)")
    return kept, notes
