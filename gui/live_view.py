"""The Live view beside the canvas: the latest Live preview or result, with its own toolbar
(Live on/off, strength, Apply as layer) and one status line. `install_live` builds it and its
LiveController into the main window (one line there).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QColor,
    QImage,
    QKeySequence,
    QPainter,
    QPaintEvent,
    QShortcut,
)
from PySide6.QtWidgets import (
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from .live import LiveController

if TYPE_CHECKING:
    from .main_window import MainWindow

APPLY_KEYS = ("Ctrl+Shift+Return", "Ctrl+Shift+Enter")  # Ctrl+Return is Generate
LIVE_KEYS = "Ctrl+L"


class LiveImage(QWidget):
    """Draws one image scaled to fit, aspect kept; says what to do while there is none."""

    painted = Signal()  # after each paint (the benchmark times previews and results with it)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("liveImage")
        self.image = QImage()
        self.hint = "Turn Live on and paint: the refined canvas appears here."
        self.setMinimumSize(160, 160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def show_image(self, image: QImage) -> None:
        self.image = image
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(38, 38, 42))
        if self.image.isNull():
            painter.setPen(QColor(150, 150, 158))
            flags = Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap
            painter.drawText(self.rect().adjusted(12, 12, -12, -12), flags, self.hint)
        else:
            size = self.image.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
            x, y = (self.width() - size.width()) / 2, (self.height() - size.height()) / 2
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
            painter.drawImage(QRectF(x, y, size.width(), size.height()), self.image)
        painter.end()
        self.painted.emit()


class LiveView(QWidget):
    def __init__(self, live: LiveController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.live = live
        self.live_button = QPushButton("Live: off")
        self.live_button.setObjectName("liveToggle")
        self.live_button.setCheckable(True)
        self.live_button.setToolTip("Live: regenerate the canvas after every stroke")
        self.strength = QSlider(Qt.Orientation.Horizontal)
        self.strength.setObjectName("liveStrength")
        self.strength.setRange(5, 100)
        self.strength.setValue(round(live.strength * 100))
        self.strength.setToolTip("Live strength: how much Live may change your painting")
        self.strength_label = QLabel()
        self.apply_button = QPushButton("Apply as layer")
        self.apply_button.setObjectName("liveApply")
        self.apply_button.setToolTip(f"Put the Live result on a new layer ({APPLY_KEYS[0]})")
        self.apply_button.setEnabled(False)
        self.image = LiveImage()
        self.status = QLabel("Live is off.")
        self.status.setObjectName("liveStatus")
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.PlainText)  # messages quote prompts
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        for widget in (self.live_button, self.strength_label, self.strength, self.apply_button):
            bar.addWidget(widget)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(self.image, 1)
        layout.addWidget(self.status)
        self._connect()
        self._show_strength(self.strength.value())

    def _connect(self) -> None:
        live = self.live
        self.live_button.toggled.connect(live.set_active)
        live.active_changed.connect(self.live_button.setChecked)
        self.live_button.toggled.connect(  # says it in words: a checked look varies by style
            lambda on: self.live_button.setText("Live: on" if on else "Live: off")
        )
        self.strength.valueChanged.connect(self._show_strength)
        self.strength.sliderReleased.connect(self._strength_chosen)  # a drag: once, at its end
        self.strength.valueChanged.connect(
            lambda _: None if self.strength.isSliderDown() else self._strength_chosen()
        )
        self.apply_button.clicked.connect(live.apply)
        live.previewed.connect(self.image.show_image)
        live.result_shown.connect(self.image.show_image)
        live.result_shown.connect(lambda _: self.apply_button.setEnabled(True))
        live.status.connect(self.status.setText)

    def restore(self, strength: float) -> None:
        """The saved Live strength (untrusted: out of range or not a number is clamped/ignored)."""
        if isinstance(strength, (int, float)) and math.isfinite(strength):
            self.strength.setValue(round(min(max(strength, 0.05), 1.0) * 100))

    def _show_strength(self, value: int) -> None:
        self.strength_label.setText(f"Strength {value / 100:.2f}")

    def _strength_chosen(self) -> None:
        self.live.set_strength(self.strength.value() / 100)


def install_live(window: MainWindow) -> LiveController:
    """Builds Live into the window: the controller, its view in a dock right of the canvas, the
    Apply keys. Live follows the document's finished edits and applies its result as a layer."""
    doc, panel = window.doc, window.panel
    live = LiveController(
        window.controller,
        canvas_image=lambda: doc.image,
        request_fields=lambda: panel.table.request_fields(masked=False),
        edited=doc.edited,
        add_layer=doc.add_layer,
        output_dir=lambda: window.output_dir,
        complete=window.complete_request,
        parent=window,
    )
    for prompt in (panel.prompt, panel.negative):
        prompt.textChanged.connect(live.edit_prompt)
    window.live_view = LiveView(live)
    dock = QDockWidget("Live", window)
    dock.setObjectName("liveDock")
    dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                     | QDockWidget.DockWidgetFeature.DockWidgetClosable)  # fmt: skip
    dock.setWidget(window.live_view)
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    dock.hide()  # until Live is first turned on: the canvas keeps its room
    window.live_action = _live_action(window, live, dock)
    for keys in APPLY_KEYS:
        QShortcut(QKeySequence(keys), window, activated=live.apply)
    return live


def _live_action(window: MainWindow, live: LiveController, dock: QDockWidget) -> QAction:
    """View → Live mode (Ctrl+L): turns Live on or off; on shows the Live panel."""
    action = QAction("Live mode", window)
    action.setCheckable(True)
    action.setShortcut(QKeySequence(LIVE_KEYS))
    action.setToolTip("Regenerate the canvas after every stroke, shown in the Live panel")
    action.toggled.connect(live.set_active)
    live.active_changed.connect(action.setChecked)
    live.active_changed.connect(lambda on: dock.show() if on else None)
    # The menu kept from build_menus, not the menu bar action's QAction.menu(): PySide6 6.11.0
    # hands that back already deleted.
    window.view_menu.addAction(action)
    return action
