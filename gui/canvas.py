"""The canvas: the document's flattened layers, its mask as a hatched, outlined overlay, and
the live preview, in a zoomable, pannable view where the left button paints (colour on the
active layer, or the mask while it is being edited), erases, picks a colour or fills.

Scene coordinates are image pixels, so zoom and pan only change the view transform, never data.
The mask is drawn as diagonal stripes with a solid outline so that, in any colour, it can never
be taken for paint; after a generation it is hidden (the result is what the user wants to see)
until the next stroke or the Show mask toggle (H). A tablet's pressure (QTabletEvent) scales
the colour brush's size and opacity.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QBrush,
    QColor,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPen,
    QPixmap,
    QTabletEvent,
    QTransform,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QStyleOptionGraphicsItem,
    QWidget,
)

from .document import Document
from .mask_brush import Box, BrushSettings
from .paint_brush import PaintSettings
from .picture_item import PictureItem

MIN_ZOOM, MAX_ZOOM = 0.05, 32.0
TOOLS = ("brush", "eraser", "picker", "fill")
_TABLET_EVENTS = (QEvent.Type.TabletPress, QEvent.Type.TabletMove, QEvent.Type.TabletRelease)
Region = tuple[int, int, int, int]  # x, y, width, height in image pixels


class MaskOverlay(QGraphicsItem):
    """Paints the mask hatched and outlined; updates only the rectangle that changed."""

    def __init__(self, doc: Document) -> None:
        super().__init__()
        self.doc = doc
        self.color = QColor(255, 40, 90)
        self.opacity_level = 0.5
        self._buffer = np.zeros((1, 1, 4), np.uint8)
        self._image = QImage()
        self.rebuild()

    def set_style(self, color: QColor, opacity: float) -> None:
        self.color, self.opacity_level = QColor(color), min(max(opacity, 0.0), 1.0)
        self.rebuild()

    def rebuild(self) -> None:
        height, width = self.doc.mask.shape
        self.prepareGeometryChange()
        self._buffer = np.zeros((height, width, 4), np.uint8)
        # The QImage shares the buffer's memory: refresh() writes into it in place.
        self._image = QImage(
            self._buffer.data, width, height, 4 * width, QImage.Format.Format_ARGB32_Premultiplied
        )
        self.refresh(None)

    def refresh(self, box: Box | None) -> None:
        height, width = self.doc.mask.shape
        if self._buffer.shape[:2] != (height, width):
            self.rebuild()
            return
        if box is None:  # the whole mask: draw only around what is masked (often nothing)
            self._buffer[:] = 0
            self.update()
            box = _masked_box(self.doc.mask)
            if box is None:
                return
        # The outline of a pixel depends on its neighbours: redraw one pixel more on each side.
        x0, y0, x1, y1 = box
        x0, y0, x1, y1 = max(x0 - 1, 0), max(y0 - 1, 0), min(x1 + 1, width), min(y1 + 1, height)
        alpha = mask_alpha(self.doc.mask, (x0, y0, x1, y1), self.opacity_level)
        # Premultiplied ARGB32 is stored as B, G, R, A bytes on little-endian machines.
        bgr = (self.color.blue(), self.color.green(), self.color.red())
        region = self._buffer[y0:y1, x0:x1]
        for channel, value in enumerate(bgr):
            region[..., channel] = np.round(alpha * (value / 255.0)).astype(np.uint8)
        region[..., 3] = np.round(alpha).astype(np.uint8)
        self.update(QRectF(x0, y0, x1 - x0, y1 - y0))

    def boundingRect(self) -> QRectF:
        return QRectF(0, 0, self.doc.width, self.doc.height)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        exposed = option.exposedRect.toAlignedRect()  # type: ignore[attr-defined]
        painter.drawImage(exposed, self._image, exposed)


def _masked_box(mask: np.ndarray) -> Box | None:
    """The smallest box holding every masked pixel, or None for an empty mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def mask_alpha(mask: np.ndarray, box: Box, opacity: float) -> np.ndarray:
    """The overlay's alpha (0..255, float) over `box`: stripes at `opacity`, the gaps between
    them at a quarter of it, and the mask's border fully opaque."""
    x0, y0, x1, y1 = box
    height, width = mask.shape
    period = max(4, min(width, height) // 16)  # a few stripes across any image
    diagonal = np.arange(y0, y1)[:, None] + np.arange(x0, x1)[None, :]  # broadcast, no grids
    stripe = np.where(diagonal % period < period // 2, np.float32(1.0), np.float32(0.25))
    alpha = mask[y0:y1, x0:x1].astype(np.float32) * opacity * stripe
    # Border: inside pixels with a 4-neighbour outside (looked at within the box plus one pixel;
    # the image's own edge does not count as a border).
    ex0, ey0, ex1, ey1 = max(x0 - 1, 0), max(y0 - 1, 0), min(x1 + 1, width), min(y1 + 1, height)
    inside = mask[ey0:ey1, ex0:ex1] >= 128
    padded = np.pad(inside, 1, mode="edge")
    border = inside & ~(padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:])
    border = border[y0 - ey0 : y1 - ey0, x0 - ex0 : x1 - ex0]
    return np.where(border, 255.0, alpha)


class Canvas(QGraphicsView):
    zoom_changed = Signal(float)
    refused = Signal(str)  # why a click did nothing (a hidden layer, outside the canvas)
    color_picked = Signal(QColor)  # the eyedropper's colour, now the brush's
    color_changed = Signal(QColor)  # the brush's colour, however it was set (the swatch shows it)
    target_changed = Signal(bool)  # True: the tools edit the mask; False: the active layer

    def __init__(self, doc: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("canvas")
        self.doc = doc
        self.brush = BrushSettings()  # size, hardness and eraser for mask and colour alike
        self.tool = "brush"
        self.color = QColor(0, 0, 0)
        self.paint_opacity = 1.0
        self._drawing: str | None = None  # "mask" or "paint" while a stroke is under way
        self._scene = QGraphicsScene(self)
        self.setScene(self._scene)
        self.setBackgroundBrush(QColor(38, 38, 42))
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        # Wheel zoom keeps the pixel under the pointer itself (zoom_at): Qt's AnchorUnderMouse
        # needs every mouse move passed to QGraphicsView, and keyboard zoom has no pointer.
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setMouseTracking(True)
        self.setMinimumSize(256, 256)
        # The view may scroll past the image's edges (as in Krita), so a zoom can keep any pixel
        # under the pointer; panning is middle-drag or Space-drag, so the bars are not needed.
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._image_item = PictureItem(doc)
        self.overlay = MaskOverlay(doc)
        self._preview_item = QGraphicsPixmapItem()
        self._preview_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        for z, item in enumerate((self._image_item, self.overlay, self._preview_item)):
            item.setZValue(z)
            self._scene.addItem(item)
        self._job = 0
        self._job_region: Region | None = None
        self._job_masked = False
        self._cursor_pos: QPointF | None = None
        self._panning_from: QPointF | None = None
        self._space_down = False
        self.mask_editable = True  # the mode uses a mask (Inpaint)
        self.edit_mask = True  # the tools act on the mask, not on the active layer
        self.mask_action = QAction("Show mask", self)
        self.mask_action.setCheckable(True)
        self.mask_action.setChecked(True)
        self.mask_action.setShortcut("H")
        self.mask_action.setToolTip("Show or hide the mask overlay (H)")
        self.mask_action.toggled.connect(self.overlay.setVisible)
        doc.region_changed.connect(self._image_item.refresh)
        doc.mask_changed.connect(self.overlay.refresh)
        doc.size_changed.connect(lambda *_: self._on_size_changed())
        # Tablet events reach the viewport first; a filter sees every one of them (and an
        # accepted one is not turned into a mouse event too).
        self.viewport().installEventFilter(self)
        self._on_size_changed()

    # --- document and preview ------------------------------------------------------------------

    def _on_size_changed(self) -> None:
        self._image_item.rebuild()
        self.overlay.rebuild()
        self.fit()

    @property
    def showing_preview(self) -> bool:
        return self._preview_item.isVisible() and not self._preview_item.pixmap().isNull()

    def begin_job(self, job_id: int, region: Region | None = None, masked: bool = False) -> None:
        """Previews of `job_id` go to `region` (default: the whole image), through the mask if
        `masked`, so an inpaint preview appears only where the image will change."""
        self._job = job_id
        self._job_region = region
        self._job_masked = masked

    def show_preview(self, job_id: int, image: QImage, region: Region | None = None) -> bool:
        """Shows a step preview; returns False (and shows nothing) for a stale job."""
        if job_id != self._job:
            return False
        x, y, w, h = region or self._job_region or (0, 0, self.doc.width, self.doc.height)
        scaled = image.scaled(
            w, h, Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.SmoothTransformation
        )
        if self._job_masked:
            scaled = _through_mask(scaled, self.doc.mask[y : y + h, x : x + w])
        self._preview_item.setPixmap(QPixmap.fromImage(scaled))
        self._preview_item.setPos(x, y)
        self._preview_item.show()
        return True

    def show_result(self) -> None:
        """Hides the mask so a finished picture is seen as it is, until the next stroke."""
        self.mask_action.setChecked(False)

    @property
    def mask_shown(self) -> bool:
        return self.overlay.isVisible()

    def set_mask_editable(self, editable: bool) -> None:
        """The mode uses a mask (Inpaint): the tools go to the mask until a layer is chosen."""
        self.mask_editable = editable
        self.edit_mask = not editable  # so that set_edit_mask always tells (the mask row)
        self.set_edit_mask(editable)

    def set_edit_mask(self, edit: bool) -> None:
        edit = edit and self.mask_editable
        changed = edit != self.edit_mask
        self.edit_mask = edit
        self.viewport().update()
        if changed:
            self.target_changed.emit(edit)

    def end_job(self) -> None:
        self._job = 0
        self._preview_item.hide()
        self._preview_item.setPixmap(QPixmap())

    # --- view: zoom, pan -------------------------------------------------------------------------

    @property
    def zoom(self) -> float:
        return self.transform().m11()

    def image_rect(self) -> QRectF:
        return QRectF(0, 0, self.doc.width, self.doc.height)

    def _update_scene_rect(self) -> None:
        """The image plus most of a viewport of room on every side, at the current zoom."""
        zoom = self.zoom or 1.0
        margin_x = 0.8 * self.viewport().width() / zoom
        margin_y = 0.8 * self.viewport().height() / zoom
        self._scene.setSceneRect(self.image_rect().adjusted(-margin_x, -margin_y,
                                                            margin_x, margin_y))  # fmt: skip

    def set_zoom(self, zoom: float) -> None:
        zoom = min(max(zoom, MIN_ZOOM), MAX_ZOOM)
        centre = self.mapToScene(self.viewport().rect().center())
        self.setTransform(QTransform.fromScale(zoom, zoom))  # exact: no drift from repeated scale()
        self._update_scene_rect()
        self.centerOn(centre)  # keyboard zoom: around the middle of the view
        self.zoom_changed.emit(self.zoom)

    def zoom_by(self, factor: float) -> None:
        self.set_zoom(self.zoom * factor)

    def fit(self) -> None:
        self.fitInView(self.image_rect(), Qt.AspectRatioMode.KeepAspectRatio)
        self._update_scene_rect()
        self.centerOn(self.image_rect().center())
        self.zoom_changed.emit(self.zoom)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._update_scene_rect()

    def actual_size(self) -> None:
        self.set_zoom(1.0)

    def zoom_at(self, factor: float, viewport_pos: QPointF) -> None:
        """Zooms by `factor` keeping the image pixel under `viewport_pos` where it is (as far
        as the scroll range allows: a view larger than the image centres it)."""
        anchor = self.mapToScene(viewport_pos.toPoint())
        self.zoom_by(factor)
        moved = self.mapFromScene(anchor) - viewport_pos.toPoint()
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() + moved.x())
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() + moved.y())

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120
        if steps:
            self.zoom_at(1.25**steps, event.position())

    # --- brush input ---------------------------------------------------------------------------

    def set_brush(self, brush: BrushSettings) -> None:
        self.brush = brush
        if self.tool in ("brush", "eraser"):
            self.tool = "eraser" if brush.erase else "brush"
        self.viewport().update()

    def set_tool(self, tool: str) -> None:
        """brush, eraser, picker (eyedropper) or fill."""
        if tool not in TOOLS:
            raise ValueError(f"unknown tool {tool!r}")
        self.tool = tool
        if tool in ("brush", "eraser"):
            self.brush = BrushSettings(self.brush.size, self.brush.hardness, tool == "eraser")
        self.viewport().setCursor(
            Qt.CursorShape.CrossCursor if tool in ("picker", "fill") else Qt.CursorShape.ArrowCursor
        )
        self.viewport().update()

    def set_color(self, color: QColor) -> None:
        if not color.isValid():
            return
        opaque = QColor(color.red(), color.green(), color.blue())
        if opaque != self.color:
            self.color = opaque
            self.color_changed.emit(QColor(opaque))

    def paint_settings(self) -> PaintSettings:
        color = (self.color.red(), self.color.green(), self.color.blue())
        size, hardness, erase = self.brush.size, self.brush.hardness, self.tool == "eraser"
        return PaintSettings(size, hardness, self.paint_opacity, color, erase)

    def scene_point(self, position: QPointF) -> QPointF:
        """The image position under a viewport position, to a fraction of a pixel."""
        inverse, _ = self.viewportTransform().inverted()
        return inverse.map(QPointF(position))

    def _press(self, point: QPointF, pressure: float, pick: bool) -> None:
        """A left press (or pen down) at image `point`: what the current tool does."""
        x, y = point.x(), point.y()
        if pick or self.tool == "picker":
            self._pick(x, y)
            return
        if self.tool == "fill":
            why = (self.doc.fill_mask_region(x, y) if self.edit_mask
                   else self.doc.fill(self.paint_settings(), x, y))  # fmt: skip
            if why:
                self.refused.emit(why)
            return
        if self.edit_mask:
            self.mask_action.setChecked(True)  # painting: the mask must be seen again
            self.doc.begin_stroke(self.brush, x, y)
            self._drawing = "mask"
            return
        why = self.doc.begin_paint(self.paint_settings(), x, y, pressure)
        if why:
            self.refused.emit(why)
        else:
            self._drawing = "paint"

    def _drag(self, point: QPointF, pressure: float) -> None:
        if self._drawing == "mask":
            self.doc.stroke_to(point.x(), point.y())
        elif self._drawing == "paint":
            self.doc.paint_to(point.x(), point.y(), pressure)

    def _release(self) -> None:
        drawing, self._drawing = self._drawing, None
        if drawing == "mask":
            self.doc.end_stroke()
        elif drawing == "paint":
            self.doc.end_paint()

    def _pick(self, x: float, y: float) -> None:
        rgb = self.doc.pick(x, y)
        if rgb is None:
            self.refused.emit("Pick a colour inside the canvas.")
            return
        self.set_color(QColor(*rgb))
        self.color_picked.emit(QColor(self.color))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.viewport() and event.type() in _TABLET_EVENTS:
            assert isinstance(event, QTabletEvent)
            self._tablet(event)
            return True
        return super().eventFilter(watched, event)

    def _tablet(self, event: QTabletEvent) -> None:
        event.accept()  # handled here: Qt must not make a mouse event of it as well
        point = self.scene_point(event.position())
        pressure = event.pressure()
        kind = event.type()
        if kind == QEvent.Type.TabletPress and event.button() == Qt.MouseButton.LeftButton:
            alt = bool(event.modifiers() & Qt.KeyboardModifier.AltModifier)
            self._press(point, pressure, pick=alt)
        elif kind == QEvent.Type.TabletMove:
            self._cursor_pos = point
            self._drag(point, pressure)
            self.viewport().update()
        elif kind == QEvent.Type.TabletRelease:
            self._release()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_down = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_down = False
            self.viewport().unsetCursor()
            return
        super().keyReleaseEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        pan = event.button() == Qt.MouseButton.MiddleButton or (
            event.button() == Qt.MouseButton.LeftButton and self._space_down
        )
        if pan:
            self._panning_from = event.position()
        elif event.button() == Qt.MouseButton.LeftButton:
            alt = bool(event.modifiers() & Qt.KeyboardModifier.AltModifier)
            self._press(self.scene_point(event.position()), 1.0, pick=alt)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        self._cursor_pos = self.mapToScene(event.position().toPoint())
        if self._panning_from is not None:
            delta = event.position() - self._panning_from
            self._panning_from = event.position()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - delta.x())
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - delta.y())
        elif event.buttons() & Qt.MouseButton.LeftButton:
            self._drag(self.scene_point(event.position()), 1.0)
        self.viewport().update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._panning_from is not None:
            self._panning_from = None
        elif event.button() == Qt.MouseButton.LeftButton:
            self._release()

    def leaveEvent(self, event) -> None:
        self._cursor_pos = None
        self.viewport().update()
        super().leaveEvent(event)

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        """The brush outline: a circle of the brush's real size, visible on any background."""
        if self._cursor_pos is None or self._panning_from is not None or self._space_down:
            return
        if self.tool not in ("brush", "eraser"):
            return
        radius = self.brush.size / 2
        for color, width in ((QColor(0, 0, 0, 160), 3), (QColor(255, 255, 255, 220), 1)):
            pen = QPen(color, width)
            pen.setCosmetic(True)
            painter.setPen(pen)
            painter.setBrush(QBrush())
            painter.drawEllipse(self._cursor_pos, radius, radius)


def _through_mask(image: QImage, mask: np.ndarray) -> QImage:
    """`image` with the mask as its alpha channel (both already the same size)."""
    result = image.convertToFormat(QImage.Format.Format_ARGB32)
    height, width = mask.shape
    alpha = QImage(
        np.ascontiguousarray(mask).data, width, height, width, QImage.Format.Format_Alpha8
    ).copy()
    painter = QPainter(result)
    painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_DestinationIn)
    painter.drawImage(0, 0, alpha)
    painter.end()
    return result
