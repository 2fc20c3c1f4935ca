"""The window's menu bar: File, Edit, Image and View, each entry with its shortcut."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu

if TYPE_CHECKING:
    from .main_window import MainWindow

Keys = str | QKeySequence.StandardKey


def build_menus(window: MainWindow) -> tuple[QAction, QAction, QMenu]:
    """Fills the window's menu bar; returns the undo and redo actions and the View menu (which
    Live mode adds its entry to)."""
    menus, files, doc, canvas = window.menuBar(), window.files, window.doc, window.canvas
    file_menu = menus.addMenu("&File")
    _add(file_menu, "&New canvas…", "Ctrl+N", files.new_canvas)
    _add(file_menu, "&Open image…", QKeySequence.StandardKey.Open, files.open_dialog)
    _add(file_menu, "Save image &as…", "Ctrl+Shift+S", files.save_dialog)
    _add(file_menu, "&Export mask…", "Ctrl+Shift+E", files.export_mask_dialog)
    file_menu.addSeparator()
    _add(file_menu, "Se&ttings…", QKeySequence.StandardKey.Preferences, window.open_settings)
    file_menu.addSeparator()
    _add(file_menu, "&Quit", "Ctrl+Q", window.request_quit)  # no standard key on all
    edit = menus.addMenu("&Edit")
    undo = doc.undo_stack.createUndoAction(window, "&Undo")
    undo.setShortcut(QKeySequence.StandardKey.Undo)
    redo = doc.undo_stack.createRedoAction(window, "&Redo")
    redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
    edit.addActions([undo, redo])
    edit.addSeparator()
    _add(edit, "&Paste image", QKeySequence.StandardKey.Paste, files.paste_image)
    _add(edit, "&Invert mask", "Ctrl+I", doc.invert_mask)
    _add(edit, "&Clear mask", "Ctrl+Shift+A", doc.clear_mask)
    _add(edit, "&Fill mask", "Ctrl+Shift+F", doc.fill_mask)
    _add(menus.addMenu("&Image"), "&Upscale…", "Ctrl+U", window.upscaler.open_dialog)
    view = menus.addMenu("&View")
    _add(view, "Zoom &in", QKeySequence.StandardKey.ZoomIn, lambda: canvas.zoom_by(1.25))
    _add(view, "Zoom &out", QKeySequence.StandardKey.ZoomOut, lambda: canvas.zoom_by(0.8))
    _add(view, "&Fit", "Ctrl+0", canvas.fit)
    _add(view, "&100%", "Ctrl+1", canvas.actual_size)
    view.addAction(canvas.mask_action)
    return undo, redo, view


def _add(menu: QMenu, text: str, keys: Keys, slot: Callable[[], object]) -> QAction:
    action = menu.addAction(text)
    action.setShortcut(QKeySequence(keys))
    action.triggered.connect(slot)
    return action
