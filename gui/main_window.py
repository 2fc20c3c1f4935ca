"""The main window composes the app: the side panel (parameters, Generate, queue), the brush
toolbar, the canvas and the history strip, bound to the generation controller.

The document (image + mask + undo history) is the canvas's model; the controller applies
generation results to it as one undoable step after they are already saved on disk.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import (
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QImage,
    QKeySequence,
    QShortcut,
)
from PySide6.QtWidgets import QDialog, QLabel, QMainWindow, QSplitter, QVBoxLayout, QWidget

from pipeline import BrushworkError, GenerationRequest, read_image_info

from . import window_state
from .autosave import Autosave
from .brush_toolbar import BrushToolbar
from .canvas import Canvas
from .control_layers import ControlOverlay
from .document import Document
from .extras_dock import ExtrasDock
from .file_actions import FileActions
from .generation import CANCELLED, GenerationController, format_progress  # noqa: F401  (tests import it)
from .history import FolderNotice, HistoryStrip, parameters_from_image
from .layers_panel import add_layers_dock
from .live_view import install_live
from .menus import build_menus
from .panels import CanvasMode
from .quit_guard import confirm_quit
from .scrubber import attach_scrubber
from .session import SessionState, SessionStore
from .settings import Settings, SettingsStore
from .settings_dialog import SettingsDialog
from .shortcuts import ShortcutRouter
from .side_panel import SidePanel
from .turns import in_turns
from .upscale_dialog import UpscaleController
from .worker import GenerationWorker


class MainWindow(QMainWindow):
    def __init__(
        self,
        worker: GenerationWorker,
        output_dir: Path,
        model: str | None,
        store: SettingsStore | None = None,
        settings: Settings | None = None,
        session: SessionStore | None = None,
    ) -> None:
        super().__init__()
        self.setWindowTitle("Brushwork")
        self.resize(1200, 780)
        self.setAcceptDrops(True)
        self.worker = worker
        self.output_dir = Path(output_dir)
        self.model_defaults: dict = {}  # of the last model loaded: its size, sampler, CFG
        self.doc = Document(512, 512)
        self.session = session
        self._build()
        self.controller = GenerationController(
            worker, self.doc, self.queue, output_dir, model, self
        )
        self.side.bind(self.controller)
        self.files = FileActions(
            self, self.canvas, self.controller, self.model_picker, self.history
        )
        self.autosave = Autosave(session, self.session_state, self)
        self.upscaler = UpscaleController(self)  # Image → Upscale… (gui/upscale_dialog.py)
        self.scrubber = attach_scrubber(self)  # step slider under the canvas (gui/scrubber.py)
        self.undo_action, self.redo_action, self.view_menu = build_menus(self)
        self.live = install_live(self)  # Live mode: View → Live, a panel right of the canvas
        self._connect()
        self.shortcut_router = ShortcutRouter(  # canvas keys window-wide (see shortcuts.py)
            self, self.doc.undo_stack, (self.panel.prompt, self.panel.negative)
        )
        self.show_canvas_size(self.doc.width, self.doc.height)
        self.statusBar().showMessage(f"Images are saved to {output_dir}")
        self.store = store or SettingsStore()
        self.settings = settings or self.store.load()
        window_state.restore_settings(self)
        self.extras = ExtrasDock(self.settings, self.panel.prompt, self)  # LoRAs & embeddings
        self.extras.attach(self)
        self.history.reload()
        self.autosave.start()

    # --- settings and session (window_state.py) ------------------------------------------------

    def apply_settings(self, new: Settings) -> None:
        """Takes new settings; engine-related changes give the worker a fresh engine."""
        window_state.apply_settings(self, new)

    def save_settings(self) -> None:
        """Saves the panel and window state; a failure is reported, never fatal."""
        window_state.save_settings(self)

    def open_settings(self) -> None:
        dialog = SettingsDialog(self.settings, self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.apply_settings(dialog.result_settings())

    def session_state(self) -> SessionState:
        return window_state.session_state(self)

    def restore_session(self, state: SessionState) -> None:
        """Shows a saved session: canvas and mask (one undo step), parameters, model, history."""
        window_state.restore_session(self, state)

    # --- construction --------------------------------------------------------------------------

    def _build(self) -> None:
        self.side = SidePanel()
        side = self.side  # the window's parts, named for the menus, tests and the self-test
        self.panel, self.model_picker, self.model_label = (
            side.panel,
            side.model_picker,
            side.model_label,
        )
        self.generate_button, self.cancel_button = side.generate_button, side.cancel_button
        self.progress, self.progress_label = side.progress, side.progress_label
        self.queue, self.queue_label = side.queue, side.queue_label
        self.error_banner = QLabel()
        self.error_banner.setObjectName("errorBanner")
        self.error_banner.setTextFormat(Qt.TextFormat.PlainText)  # messages quote file names
        self.error_banner.setWordWrap(True)
        self.error_banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_banner.setStyleSheet(
            "QLabel#errorBanner { background: #6b2226; color: white; padding: 8px;"
            " border-radius: 4px; }"
        )
        self.error_banner.hide()
        self.canvas = Canvas(self.doc)
        self.tools = BrushToolbar(self.canvas)
        self.layers_panel = add_layers_dock(self, self.doc, self.canvas)  # gui/layers_panel.py
        self.control_overlay = ControlOverlay(self.doc)  # control layers, gui/control_layers.py
        self.canvas.scene().addItem(self.control_overlay)
        self.side.control.bind_document(self.doc)  # units read control layers
        right = QWidget()
        stack = QVBoxLayout(right)
        stack.setContentsMargins(0, 0, 0, 0)
        stack.addWidget(self.tools)
        stack.addWidget(self.tools.second_row)  # colours and the mask overlay
        stack.addWidget(self.error_banner)
        stack.addWidget(self.canvas, 1)
        self.history = HistoryStrip(self.output_dir)
        self.folder_notice = FolderNotice(self.history)
        stack.addWidget(self.folder_notice)
        stack.addWidget(self.history)

        splitter = QSplitter()
        splitter.addWidget(self.side)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([340, 860])
        self.setCentralWidget(splitter)

    def _connect(self) -> None:
        control = self.controller
        self.generate_button.clicked.connect(self.generate)
        self.panel.prompt.submitted.connect(self.generate)
        self.panel.negative.submitted.connect(self.generate)
        self.panel.mode_changed.connect(
            lambda _: self.show_canvas_size(self.doc.width, self.doc.height)
        )
        for keys, slot in (
            ("Ctrl+Return", self.generate),
            ("Ctrl+Enter", self.generate),
            (Qt.Key.Key_Escape, control.cancel),
        ):
            QShortcut(QKeySequence(keys), self, activated=slot)
        self.doc.size_changed.connect(self.show_canvas_size)
        self.doc.size_changed.connect(self.tools.size_slider.set_image_size)
        self.doc.image_changed.connect(lambda: self.history.mark_on_canvas(None))  # re-marked
        self.panel.mode_changed.connect(self._mask_tools_for_mode)
        self.panel.resize_canvas_requested.connect(self._resize_canvas)
        self._mask_tools_for_mode(self.panel.current_mode)
        self.canvas.refused.connect(self.statusBar().showMessage)
        self.queue.notice.connect(self.statusBar().showMessage)
        self.model_picker.model_selected.connect(self.select_model)
        self.model_picker.error.connect(self.show_error)
        self.history.open_requested.connect(self.files.show_from_history)
        self.history.parameters_requested.connect(self.use_parameters_of)
        self.history.delete_requested.connect(self.files.delete_from_history)
        for source in (control, self.files):
            source.error.connect(self.show_error)
            source.message.connect(self.statusBar().showMessage)
        self.autosave.failed.connect(self.statusBar().showMessage)
        for signal in (self.doc.image_changed, self.doc.mask_changed, self.doc.size_changed,
                       self.panel.prompt.textChanged, self.panel.negative.textChanged):  # fmt: skip
            signal.connect(self.autosave.mark_dirty)
        control.job_started.connect(lambda job, masked: self.canvas.begin_job(job, masked=masked))
        control.job_ended.connect(self.canvas.end_job)
        control.job_started.connect(self._clear_cancelled)
        control.result_applied.connect(lambda _saved: self.canvas.show_result())
        control.previewed.connect(self._show_preview)
        control.seed_used.connect(self.panel.show_used_seed)
        control.images_added.connect(self._add_to_history)
        control.result_applied.connect(self._save_after_result)
        control.model_ready.connect(self._on_model_loaded)

    # --- history -------------------------------------------------------------------------------

    def use_parameters_of(self, path: Path) -> bool:
        """Restores every setting stored in `path` (any supported format) into the panel;
        values the field table refuses are left out and named, never half-applied."""
        try:
            found, notes = parameters_from_image(path)
            notes.append(self.extras.recall(read_image_info(path), found).note())
        except BrushworkError as exc:
            self.show_error(str(exc))
            return False
        notes.insert(0, self.panel.use_values(found))  # the seed first: the line may be cut
        self.show_canvas_size(self.doc.width, self.doc.height)
        said = "; ".join(note for note in notes if note)
        self.statusBar().showMessage(
            f"Parameters of {path.name} restored{'; ' if said else ''}{said}"
        )
        return True

    def _add_to_history(self, paths: list[Path]) -> None:
        # One image per event-loop turn: each reads its thumbnail back from disk.
        in_turns(self, *(lambda p=path: self.history.add_image(p) for path in paths))

    # --- generation ----------------------------------------------------------------------------

    def load_model(self) -> None:
        self.controller.load_model()

    def select_model(self, model: str | None) -> None:
        """Uses `model` for the next jobs and loads it now, so the first image comes sooner."""
        if model == self.controller.model:
            return
        self.controller.model = model
        self.save_settings()
        self.load_model()

    def show_canvas_size(self, width: int, height: int) -> None:
        self.panel.native_size = self.model_defaults.get("width", 0)  # far-from-native warning
        self.panel.show_canvas_size(width, height)

    def _resize_canvas(self, width: int, height: int) -> None:
        self.doc.resize(width, height)
        self.canvas.fit()
        self.statusBar().showMessage(f"Canvas resized to {width}×{height} (Ctrl+Z undoes it)")

    def _mask_tools_for_mode(self, mode: CanvasMode) -> None:
        self.canvas.set_mask_editable(mode is CanvasMode.INPAINT)

    def _clear_cancelled(self) -> None:
        if self.statusBar().currentMessage() == CANCELLED:
            self.statusBar().clearMessage()  # about the job before; this one runs now

    def complete_request(self, request: GenerationRequest) -> GenerationRequest:
        """What the side docks add to a request built from the panel: the LoRA list's LoRAs and
        the Control section's ControlNet units (Generate and Live both send these)."""
        if self.side.control.rows:
            request = request.replace(controls=self.side.control.units(self.doc.image))
        return self.extras.applied_to(request, self.controller.model)

    @Slot()
    def generate(self) -> None:
        """Queues `batch count` jobs with successive seeds; starts one if nothing is running."""
        try:
            if self.panel.current_mode is CanvasMode.OUTPAINT:
                request = self._extend_for_outpaint()
            else:
                request = self.panel.request(self.controller.model, self.doc.image, self.doc.mask)
            request = self.complete_request(request)
        except BrushworkError as exc:
            self.show_error(str(exc))
            return
        self.error_banner.hide()
        self.controller.enqueue(request, self.panel.batch_count.value())

    def _extend_for_outpaint(self) -> GenerationRequest:
        """Extends the canvas (one undo step) with the new area as the mask, so the preview and
        the result land in place; the request inpaints exactly this canvas."""
        job = self.panel.outpaint(self.controller.model, self.doc.image)
        self.doc.extend(job.request.init_image, job.sides, job.request.mask, "Extend canvas")
        self.canvas.fit()
        if job.note:
            self.statusBar().showMessage(job.note)
        return job.request

    def show_error(self, message: str) -> None:
        self.error_banner.setText(message)
        self.error_banner.show()

    def _show_preview(self, job: int, image: QImage, region: object) -> None:
        self.canvas.show_preview(job, image, region)  # type: ignore[arg-type]

    def _save_after_result(self, saved: bool) -> None:
        # After the result is on screen, each in a turn of its own (the window stays live);
        # the session is saved after every generation: a crash from then on loses nothing.
        in_turns(self, *([self.save_settings] if saved else []), self.autosave.save)

    def _on_model_loaded(self, name: str, defaults: dict) -> None:
        """The size, sampler and CFG follow the model's own unless the user chose them (as
        InvokeAI does on a model change): far from its size a model repeats its subject."""
        if defaults:
            self.model_defaults = dict(defaults)
        followed = bool(defaults) and self.panel.follow_model(defaults)
        self.show_canvas_size(self.doc.width, self.doc.height)
        if followed:
            width, height = self.panel.txt2img_size
            self.statusBar().showMessage(
                f"Size set to {width}×{height}, the size {name} was trained at"
            )
        elif not self.controller.running_job:
            self.statusBar().showMessage(f"Model {name} ready · images go to {self.output_dir}")

    # --- window events -------------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if FileActions.accepts_drop(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        self.files.drop(event.mimeData())
        event.acceptProposedAction()

    def request_quit(self) -> None:
        """File → Quit (Ctrl+Q): asks first when the canvas has edits in no file."""
        if confirm_quit(self):
            self.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        # The window manager's close asks too; a close() from code (tests, File → Quit once
        # confirmed) does not.
        if event.spontaneous() and not confirm_quit(self):
            event.ignore()
            return
        self.controller.cancel()  # the app waits for the worker thread after the event loop ends
        self.save_settings()
        self.autosave.save()
        self.autosave.wait()  # quitting: the session must be on disk before the process ends
        super().closeEvent(event)
