"""Keyboard routing between the canvas's shortcuts and the window's input widgets.

Canvas shortcuts are window-wide, and the widget with focus keeps only the keys it really uses:

- a spin box takes digits, not `[`, `]`, B, E, H, I or F, so those reach the brush while it has
  focus (Qt lets any line edit, spin boxes included, claim every printable key first);
- Ctrl+Z / Ctrl+Shift+Z in a prompt box undo or redo whichever was edited last, the prompt's
  text or the canvas. Someone who types a prompt, generates, and presses Ctrl+Z means the
  picture; someone who typed after the last stroke means the text.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QKeyEvent, QKeySequence, QUndoStack
from PySide6.QtWidgets import QAbstractSpinBox, QApplication, QPlainTextEdit, QWidget

CANVAS_KEYS = frozenset(
    {Qt.Key.Key_BracketLeft, Qt.Key.Key_BracketRight, Qt.Key.Key_B, Qt.Key.Key_E, Qt.Key.Key_H}
) | {Qt.Key.Key_I, Qt.Key.Key_F}  # the eyedropper and fill (brush_toolbar.py)
_TYPING_MODIFIERS = Qt.KeyboardModifier.NoModifier | Qt.KeyboardModifier.KeypadModifier


class ShortcutRouter(QObject):
    """An event filter on the window's focused input widget (it dies with the window)."""

    def __init__(
        self, window: QWidget, canvas_undo: QUndoStack, text_boxes: Iterable[QPlainTextEdit]
    ) -> None:
        super().__init__(window)
        self.window = window
        self.canvas_undo = canvas_undo
        self._clock = 0  # edit order: a counter, never ambiguous like equal timestamps
        self._canvas_edited = 0
        self._text_edited: dict[QPlainTextEdit, int] = {}
        canvas_undo.indexChanged.connect(self._on_canvas_edit)
        for box in text_boxes:
            self._text_edited[box] = 0
            box.document().contentsChanged.connect(lambda b=box: self._on_text_edit(b))
        self._watched: list[QWidget] = []
        app = QApplication.instance()
        if isinstance(app, QApplication):
            # Not an application-wide filter: that sent every event of every widget (paints,
            # mouse moves, timers: ~500 a second while painting) through Python, each one
            # waiting for the GIL while the worker runs Python. Shortcut overrides go to the
            # focused widget only, so only it is watched.
            app.focusChanged.connect(self._follow_focus)
            self._follow_focus(None, app.focusWidget())

    def _follow_focus(self, _old: QWidget | None, new: QWidget | None) -> None:
        for widget in self._watched:
            with contextlib.suppress(RuntimeError):  # deleted since it had the focus
                widget.removeEventFilter(self)
        self._watched = []
        if new is None or new.window() is not self.window:
            return
        # A spin box's focus is on its inner line edit; a key may be sent to either.
        for widget in (new, new.parentWidget()):
            if widget is not None and (
                isinstance(widget, (QAbstractSpinBox, QPlainTextEdit))
                or isinstance(widget.parentWidget(), QAbstractSpinBox)
            ):
                widget.installEventFilter(self)
                self._watched.append(widget)

    def _tick(self) -> int:
        self._clock += 1
        return self._clock

    def _on_canvas_edit(self, _index: int) -> None:
        self._canvas_edited = self._tick()

    def _on_text_edit(self, box: QPlainTextEdit) -> None:
        self._text_edited[box] = self._tick()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() != QEvent.Type.ShortcutOverride or not isinstance(watched, QWidget):
            return False
        if watched.window() is not self.window:
            return False
        assert isinstance(event, QKeyEvent)
        if self._canvas_key_in_spin_box(watched, event) or self._canvas_undo_wins(watched, event):
            event.ignore()  # not claimed by the widget: the window's shortcut fires
            return True
        return False

    def _canvas_key_in_spin_box(self, widget: QWidget, event: QKeyEvent) -> bool:
        in_spin_box = isinstance(widget, QAbstractSpinBox) or isinstance(
            widget.parentWidget(), QAbstractSpinBox
        )
        typed = event.modifiers() & ~_TYPING_MODIFIERS == Qt.KeyboardModifier.NoModifier
        return in_spin_box and typed and event.key() in CANVAS_KEYS

    def _canvas_undo_wins(self, widget: QWidget, event: QKeyEvent) -> bool:
        box = widget if widget in self._text_edited else None
        if box is None:
            return False
        assert isinstance(box, QPlainTextEdit)
        if event.matches(QKeySequence.StandardKey.Undo):
            can = self.canvas_undo.canUndo()
        elif event.matches(QKeySequence.StandardKey.Redo):
            can = self.canvas_undo.canRedo()
        else:
            return False
        return can and self._canvas_edited > self._text_edited[box]
