"""Quit asks before the canvas's unsaved picture is left behind.

The session is kept, so a clean restart brings the canvas back; but an edit that is in no file
(pasted, extended, painted over) is not in the history either, and a user who quits may not
expect to find it only by starting Brushwork again. So Quit says so and offers Save As.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QMessageBox

if TYPE_CHECKING:
    from .main_window import MainWindow

QUESTION = (
    "The picture on the canvas has changes that are not saved in any file, so they are not "
    "in the history.\n\nBrushwork brings the canvas back when it starts again. Save a copy now?"
)


def confirm_quit(window: MainWindow) -> bool:
    """True if the window may close: nothing unsaved, saved now, or the user chose Quit."""
    if not window.doc.has_unstored_changes():
        return True
    box = QMessageBox(QMessageBox.Icon.Question, "Quit Brushwork", QUESTION, parent=window)
    save = box.addButton("Save image as…", QMessageBox.ButtonRole.AcceptRole)
    quit_anyway = box.addButton("Quit", QMessageBox.ButtonRole.DestructiveRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(save)
    box.exec()
    clicked = box.clickedButton()
    if clicked is quit_anyway:
        return True
    if clicked is save:
        window.files.save_dialog()
        return not window.doc.has_unstored_changes()
    return False
