"""The Layers dock: the document's layers, top first, as a compact list.

Each row is a layer: its box shows or hides it, a double-click renames it, the selected row is
the layer the tools paint on. In Inpaint mode the mask is a row of its own at the top (as
Krita's selection mask): selected, the brush and eraser paint the mask; any layer row takes the
tools back to colour. Under the list: the selected layer's opacity and add, delete, up, down and
merge-down buttons. Every change is one undo step of the document.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtGui import QColor, QFont, QIcon, QImage, QKeySequence, QPainter, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .canvas import Canvas
from .document import Document
from .layers import Layer

MASK_ROW = -1  # the row's data for the inpaint mask
CONTROL_COLOR = QColor(0, 150, 170)  # control layers' rows: their name and thumbnail frame
CONTROL_TIP = (
    "New control layer above the selected one: paint a scribble on it for a Control unit "
    "(it steers generation and is not part of the picture)"
)
INDEX_ROLE = Qt.ItemDataRole.UserRole
THUMB = 36
# Thumbnails follow strokes at most this often: redrawing every row's icon inside the event that
# ends a stroke held the GUI thread for ~6 ms per stroke (Live painting stalls, issue 18).
THUMBNAIL_DELAY_MS = 250


class LayersPanel(QWidget):
    def __init__(self, doc: Document, canvas: Canvas, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc, self.canvas = doc, canvas
        self.list = QListWidget()
        self.list.setObjectName("layersList")
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setEditTriggers(QListWidget.EditTrigger.DoubleClicked)
        # A long name ("Result 42: a large yellow star, …") is cut with "…", its whole text in
        # the tooltip, rather than giving the narrow dock a horizontal scroll bar.
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setToolTip("Opacity of the selected layer")
        self.opacity_value = QLabel()
        self._opacity_timer = QTimer(self)
        self._opacity_timer.setSingleShot(True)
        self._opacity_timer.setInterval(0)
        self._opacity_timer.timeout.connect(self._apply_opacity)
        self._thumbnail_timer = QTimer(self)
        self._thumbnail_timer.setSingleShot(True)
        self._thumbnail_timer.setInterval(THUMBNAIL_DELAY_MS)
        self._thumbnail_timer.timeout.connect(self.rebuild)
        self.buttons = {
            name: _button(text, tip)
            for name, text, tip in (
                ("add", "+", "New paint layer above the selected one (Insert)"),
                ("control", "+ctl", CONTROL_TIP),
                ("delete", "−", "Delete the selected layer"),
                ("up", "▲", "Move the selected layer up"),
                ("down", "▼", "Move the selected layer down"),
                ("merge", "⤓", "Merge the selected layer into the one below (Ctrl+E)"),
            )
        }
        self._layout()
        self._connect()
        self.rebuild()

    def _layout(self) -> None:
        opacity_row = QHBoxLayout()
        opacity_row.addWidget(QLabel("Opacity"))
        opacity_row.addWidget(self.opacity, 1)
        opacity_row.addWidget(self.opacity_value)
        button_row = QHBoxLayout()
        for button in self.buttons.values():
            button_row.addWidget(button)
        button_row.addStretch(1)
        column = QVBoxLayout(self)
        column.setContentsMargins(4, 4, 4, 4)
        column.addWidget(self.list, 1)
        column.addLayout(opacity_row)
        column.addLayout(button_row)

    def _connect(self) -> None:
        self.doc.layers_changed.connect(self.rebuild)
        self.doc.edited.connect(self._pixels_edited)
        self.canvas.target_changed.connect(lambda _edit_mask: self.rebuild())
        self.list.currentRowChanged.connect(self._on_row_selected)
        self.list.itemChanged.connect(self._on_item_changed)
        self.opacity.valueChanged.connect(self._on_opacity)
        self.opacity.sliderReleased.connect(self._apply_opacity)
        actions = {
            "add": self.doc.new_layer,
            "control": self.doc.new_control_layer,
            "delete": lambda: self._say(self.doc.delete_layer()),
            "up": lambda: self.doc.move_layer(self.doc.active_layer, +1),
            "down": lambda: self.doc.move_layer(self.doc.active_layer, -1),
            "merge": lambda: self._say(self.doc.merge_down()),
        }
        for name, slot in actions.items():
            self.buttons[name].clicked.connect(slot)
        # Krita's keys for the two most used, window-wide as the tool keys are.
        for keys, name in (("Insert", "add"), ("Ctrl+E", "merge")):
            QShortcut(QKeySequence(keys), self, activated=actions[name])

    def _say(self, why: str | None) -> None:
        if why:
            self.canvas.refused.emit(why)

    # --- doc → list ----------------------------------------------------------------------------

    def _pixels_edited(self) -> None:
        """Thumbnails follow strokes, later and once for a burst of them (not restarted by
        each stroke, so continuous painting still updates them every THUMBNAIL_DELAY_MS)."""
        if not self._thumbnail_timer.isActive():
            self._thumbnail_timer.start()

    def rebuild(self) -> None:
        """Shows the stack. Rows are updated in place when their number is unchanged: this
        may run inside the list's own itemChanged, where deleting the item would crash."""
        self._thumbnail_timer.stop()  # every row is shown as it is now
        rows: list[tuple[int, Layer | None]] = []
        if self.canvas.mask_editable:
            rows.append((MASK_ROW, None))
        rows += [(index, self.doc.layers[index]) for index in reversed(range(len(self.doc.layers)))]
        self.list.blockSignals(True)
        if self.list.count() != len(rows):
            self.list.clear()
            for _row in rows:
                self.list.addItem(QListWidgetItem())
        for row, (index, layer) in enumerate(rows):
            item = self.list.item(row)
            if layer is None:
                _show_mask(item)
            else:
                _show_layer(item, layer, index)
        selected = MASK_ROW if self.canvas.edit_mask else self.doc.active_index
        for row, (index, _layer) in enumerate(rows):
            if index == selected:
                self.list.setCurrentRow(row)
        self.list.blockSignals(False)
        self._show_opacity()

    def _show_opacity(self) -> None:
        on_layer = not self.canvas.edit_mask
        value = round(self.doc.active_layer.opacity * 100)
        self.opacity.blockSignals(True)
        self.opacity.setValue(value)
        self.opacity.blockSignals(False)
        self.opacity.setEnabled(on_layer)
        self.opacity_value.setText(f"{value}%" if on_layer else "")
        for name in ("delete", "up", "down", "merge"):
            self.buttons[name].setEnabled(on_layer)

    # --- list → doc ----------------------------------------------------------------------------

    def _on_row_selected(self, row: int) -> None:
        item = self.list.item(row)
        if item is None:
            return
        index = item.data(INDEX_ROLE)
        if index == MASK_ROW:
            self.canvas.set_edit_mask(True)
            return
        self.canvas.set_edit_mask(False)
        self.doc.set_active(index)
        self._show_opacity()

    def _on_item_changed(self, item: QListWidgetItem) -> None:
        index = item.data(INDEX_ROLE)
        if index == MASK_ROW or not 0 <= index < len(self.doc.layers):
            return
        layer = self.doc.layers[index]
        visible = item.checkState() == Qt.CheckState.Checked
        if visible != layer.visible:
            self.doc.set_visible(layer, visible)
        elif item.text() != layer.name:
            self.doc.rename(layer, item.text())
            self.rebuild()  # a refused (blank) name shows the old one again

    def _on_opacity(self, value: int) -> None:
        self.opacity_value.setText(f"{value}%")
        if self.opacity.isSliderDown():
            # Flattening a large layer takes longer than slider events come: while dragging,
            # only the latest value is applied, once the event loop is free.
            self._opacity_timer.start()
            return
        self._apply_opacity()

    def _apply_opacity(self) -> None:
        self._opacity_timer.stop()
        if not self.canvas.edit_mask:
            self.doc.set_opacity(self.doc.active_layer, self.opacity.value() / 100)


def add_layers_dock(window: QMainWindow, doc: Document, canvas: Canvas) -> LayersPanel:
    """The Layers dock at the window's right edge; returns its panel."""
    panel = LayersPanel(doc, canvas)
    dock = QDockWidget("Layers", window)
    dock.setObjectName("layersDock")
    dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
    dock.setWidget(panel)
    dock.setMinimumWidth(190)
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    return panel


def _show_mask(item: QListWidgetItem) -> None:
    item.setText("Inpaint mask")
    item.setIcon(QIcon())
    font = QFont(item.font())
    font.setItalic(True)
    item.setFont(font)
    item.setToolTip("Select to paint the mask (the area to regenerate) with B and E")
    item.setData(INDEX_ROLE, MASK_ROW)
    item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)


def _show_layer(item: QListWidgetItem, layer: Layer, index: int) -> None:
    item.setText(layer.name)
    control = layer.kind == "control"
    thumbnail = _thumbnail(layer)
    item.setIcon(_framed(thumbnail) if control else thumbnail)
    font = QFont(item.font())
    font.setItalic(False)
    item.setFont(font)
    item.setData(INDEX_ROLE, index)
    flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
    item.setFlags(flags | Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEditable)
    item.setCheckState(Qt.CheckState.Checked if layer.visible else Qt.CheckState.Unchecked)
    opacity = "" if layer.opacity >= 1 else f", {round(layer.opacity * 100)}% opacity"
    kind = f"{layer.kind.capitalize()} layer{opacity}"
    item.setToolTip(f"{layer.name}\n{kind} · double-click to rename")
    # Control layers are told apart at a glance: teal name, framed thumbnail, their own tip.
    item.setData(Qt.ItemDataRole.ForegroundRole, CONTROL_COLOR if control else None)
    if control:
        item.setToolTip(
            f"{layer.name}\nControl layer{opacity}: a Control unit reads it (not part of the "
            "picture) · double-click to rename"
        )


def _button(text: str, tip: str) -> QToolButton:
    button = QToolButton()
    button.setText(text)
    button.setToolTip(tip)
    button.setAutoRaise(True)
    return button


def _thumbnail(layer: Layer) -> QIcon:
    """A small picture of the layer over a checkerboard (a strided sample: cheap at 2048²)."""
    height, width = layer.pixels.shape[:2]
    step = max(1, max(height, width) // THUMB)
    sample = layer.pixels[::step, ::step].astype(np.float32)
    rows, cols = np.indices(sample.shape[:2])
    board = np.where(((rows // 4 + cols // 4) % 2 == 0)[..., None], 230.0, 180.0)
    alpha = sample[..., 3:4] / 255.0
    rgb = np.rint(sample[..., :3] * alpha + board * (1 - alpha)).astype(np.uint8)
    rgb = np.ascontiguousarray(rgb)
    image = QImage(rgb.data, rgb.shape[1], rgb.shape[0], 3 * rgb.shape[1],
                   QImage.Format.Format_RGB888).copy()  # fmt: skip
    return QIcon(QPixmap.fromImage(image))


def _framed(icon: QIcon) -> QIcon:
    """The thumbnail inside a frame of the control colour."""
    pixmap = icon.pixmap(THUMB, THUMB)
    painter = QPainter(pixmap)
    painter.setPen(CONTROL_COLOR)
    for inset in range(3):
        painter.drawRect(pixmap.rect().adjusted(inset, inset, -1 - inset, -1 - inset))
    painter.end()
    return QIcon(pixmap)
