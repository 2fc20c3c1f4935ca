"""Small building blocks of the parameters panel: a collapsible section and the warning shown
when the canvas is far from the size the model was trained at."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

# Beyond this factor from the model's native size a model repeats or breaks its subject
# (the bundled 64-px model made six tiled circles on a 300×200 photo).
FAR_FACTOR = 2.0


class CollapsibleSection(QWidget):
    """A header button with an arrow that shows or hides `body` (rarely used settings)."""

    def __init__(self, title: str, body: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.body = body
        self.header = QToolButton()
        self.header.setText(title)
        self.header.setCheckable(True)
        self.header.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.header.setAutoRaise(True)
        self.header.toggled.connect(self.set_expanded)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.header)
        layout.addWidget(body)
        self.set_expanded(False)

    def set_expanded(self, expanded: bool) -> None:
        self.header.setChecked(expanded)
        arrow = Qt.ArrowType.DownArrow if expanded else Qt.ArrowType.RightArrow
        self.header.setArrowType(arrow)
        self.body.setVisible(expanded)

    @property
    def expanded(self) -> bool:
        return self.header.isChecked()


def native_fit(width: int, height: int, native: int) -> tuple[int, int]:
    """`width`×`height` scaled so its longer side is `native`, aspect kept."""
    scale = native / max(width, height)
    return max(8, round(width * scale)), max(8, round(height * scale))


def far_from_native(width: int, height: int, native: int) -> bool:
    if native <= 0:
        return False
    ratio = max(width, height) / native
    return ratio > FAR_FACTOR or ratio < 1 / FAR_FACTOR


class NativeSizeWarning(QFrame):
    """The warning that the canvas is far from the model's size, with one-click fixes."""

    resize_requested = Signal(int, int)  # resize the canvas to this size
    only_masked_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("nativeWarning")
        self.setStyleSheet(
            "QFrame#nativeWarning { background: #5a4a1a; border-radius: 4px; }"
            " QFrame#nativeWarning QLabel { color: #fff3c4; }"
        )
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.resize_button = QPushButton()
        self.resize_button.clicked.connect(self._resize)
        self.only_masked_button = QPushButton("Only the masked area")
        self.only_masked_button.setToolTip(
            "Generate a crop around the mask at the model's size and paste it back"
        )
        self.only_masked_button.clicked.connect(self.only_masked_requested)
        buttons = QHBoxLayout()
        buttons.addWidget(self.resize_button)
        buttons.addWidget(self.only_masked_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.text)
        layout.addLayout(buttons)
        self._target = (0, 0)
        self.hide()

    def update_for(
        self, size: tuple[int, int], native: int, masked: bool, can_resize: bool = True
    ) -> None:
        """Shows the warning for a canvas generated at `size`, or hides it when it fits.
        Outpaint cannot resize: `size` is the canvas after the extension."""
        width, height = size
        if not far_from_native(width, height, native):
            self.hide()
            return
        self._target = native_fit(width, height, native)
        self.text.setText(
            f"The canvas is {width}×{height}, far from the {native}×{native} this model was "
            "trained at: expect repeated or broken subjects."
        )
        self.resize_button.setText("Resize canvas to {}×{}".format(*self._target))
        self.resize_button.setVisible(can_resize)
        self.only_masked_button.setVisible(masked)
        self.show()

    def _resize(self) -> None:
        self.resize_requested.emit(*self._target)
