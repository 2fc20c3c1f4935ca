"""The main window: parameters on the left, the canvas editor on the right.

The document (image + mask + undo history) is the canvas's model; generation results are applied
to it as one undoable step after they are already saved on disk.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QByteArray, Qt, QTimer, Signal, Slot
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QImage,
    QKeySequence,
    QShortcut,
)
from PySide6.QtWidgets import (
    QColorDialog,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QSplitter,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from pipeline import (
    BrushworkError,
    GeneratedImage,
    GenerationRequest,
    ImageNotSavedError,
    Mode,
    default_output_dir,
    item_seed,
)
from pipeline.imagefiles import read_image
from pipeline.outputs import save_png_as
from pipeline.request import SEED_LIMIT

from .canvas import Canvas
from .document import Document
from .history import HistoryStrip, parameters_from_image
from .images import qimage_to_array
from .job_queue import JobQueue
from .mask_brush import BrushSettings
from .model_picker import ModelPicker
from .panels import DEFAULT_SIZE, CanvasMode, ParametersPanel
from .session import SessionState, SessionStore
from .settings import Parameters, Settings, SettingsStore
from .settings_dialog import SettingsDialog
from .upscale_dialog import UpscaleController
from .worker import GenerationWorker, engine_factory

MODEL_SUFFIXES = {".safetensors", ".ckpt", ".pt", ".pth", ".bin"}  # refused ones get the reason
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff)"
AUTOSAVE_MS = 30_000  # the session is saved this often while the document keeps changing


class MainWindow(QMainWindow):
    submit = Signal(int, object)  # job id, GenerationRequest → worker.run_job (queued)
    engine_changed = Signal(object)  # engine factory → worker.replace_engine (queued)
    load_requested = Signal(object)  # model → worker.load_model (queued)

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
        self.model = model
        self._next_job = 1
        self.running_job = 0
        self._native_size = 0  # of the last model loaded (0: none yet)
        self.last_results: list[GeneratedImage] = []
        self.doc = Document(512, 512)
        self.session = session
        self.session_dirty = False
        self._build()
        self._build_menus()
        self._connect()
        self._set_running(False)
        self._show_queue_size()
        self._on_canvas_size(self.doc.width, self.doc.height)
        self.statusBar().showMessage(f"Images are saved to {output_dir}")
        self.store = store or SettingsStore()
        self.settings = settings or self.store.load()
        self._restore_settings()
        self.history.reload()
        self._start_autosave()

    # --- settings ------------------------------------------------------------------------------

    def _restore_settings(self) -> None:
        self.panel.restore(self.settings.parameters)
        self._native_size = self.settings.native_size
        self.model_picker.allow_pickle = self.settings.allow_pickle
        models = list(self.settings.models)
        if self.model and self.model not in models:  # e.g. given with --model
            models.append(self.model)
        self.model_picker.restore(models, self.model)
        self._on_canvas_size(self.doc.width, self.doc.height)
        if self.settings.window_geometry:
            self.restoreGeometry(QByteArray.fromBase64(self.settings.window_geometry.encode()))
        if self.store.notice:
            self.show_error(self.store.notice)

    def open_settings(self) -> None:
        dialog = SettingsDialog(self.settings, self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.apply_settings(dialog.result_settings())

    def apply_settings(self, new: Settings) -> None:
        """Takes new settings; engine-related changes give the worker a fresh engine."""
        engine_keys = ("device", "precision", "memory_savings", "output_dir", "allow_pickle")
        engine_changed = any(getattr(new, k) != getattr(self.settings, k) for k in engine_keys)
        self.settings = new
        self.model_picker.allow_pickle = new.allow_pickle
        self.output_dir = Path(new.output_dir) if new.output_dir else default_output_dir()
        self.history.folder = self.output_dir
        self.history.reload()
        if engine_changed:
            self.engine_changed.emit(engine_factory(self.output_dir, new))
        self.save_settings()
        self.statusBar().showMessage(f"Settings saved · images go to {self.output_dir}")

    def save_settings(self) -> None:
        """Saves the panel and window state; a failure is reported, never fatal."""
        self.settings.parameters = self.panel.to_parameters()
        self.settings.models = self.model_picker.sources()
        self.settings.model = self.model
        self.settings.native_size = self._native_size
        self.settings.window_geometry = bytes(self.saveGeometry().toBase64()).decode()
        try:
            self.store.save(self.settings)
        except OSError as exc:
            self.statusBar().showMessage(f"Settings could not be saved: {exc}")

    # --- session autosave (see session.py) -----------------------------------------------------

    def _start_autosave(self) -> None:
        self.autosave_timer = QTimer(self)
        self.autosave_timer.setInterval(AUTOSAVE_MS)
        self.autosave_timer.timeout.connect(self._autosave_if_dirty)
        for signal in (self.doc.image_changed, self.doc.mask_changed, self.doc.size_changed,
                       self.panel.prompt.textChanged, self.panel.negative.textChanged):  # fmt: skip
            signal.connect(self._mark_session_dirty)
        if self.session is not None:
            self.autosave_timer.start()

    def _mark_session_dirty(self, *_args: object) -> None:
        self.session_dirty = True

    def _autosave_if_dirty(self) -> None:
        if self.session_dirty:
            self.save_session()

    def session_state(self) -> SessionState:
        current = self.history.currentItem()
        selected = str(self.history.path_of(current)) if current is not None else None
        return SessionState(
            self.doc.image, self.doc.mask, self.panel.to_parameters(), self.model, selected
        )

    def save_session(self) -> bool:
        """Saves the session now; a failure is reported in the status bar, never fatal."""
        if self.session is None:
            return False
        try:
            self.session.save(self.session_state())
        except OSError as exc:
            self.statusBar().showMessage(f"The session could not be saved: {exc}")
            return False
        self.session_dirty = False
        return True

    def restore_session(self, state: SessionState) -> None:
        """Shows a saved session: canvas and mask (one undo step), parameters, model, history."""
        self.doc.replace(state.image, "Restore session", mask=state.mask)
        self.canvas.fit()
        self.panel.restore(state.parameters)
        if state.model != self.model:
            self.model = state.model
            sources = self.model_picker.sources()
            extra = [state.model] if state.model and state.model not in sources else []
            self.model_picker.restore([*sources, *extra], state.model)  # picker shows what loads
        self._on_canvas_size(self.doc.width, self.doc.height)
        if state.history_path:
            self.history.select_path(Path(state.history_path))
        self.statusBar().showMessage("Your previous session was restored.")

    # --- construction --------------------------------------------------------------------------

    def _build(self) -> None:
        self.panel = ParametersPanel()
        self.generate_button = QPushButton("Generate")
        self.generate_button.setObjectName("generate")
        self.generate_button.setToolTip("Generate (Ctrl+Enter)")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Cancel (Esc)")
        self.progress = QProgressBar()
        self.progress.setFormat("Step %v/%m")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress_label = QLabel("Ready")
        self.model_picker = ModelPicker()
        self.model_label = QLabel("Model: not loaded yet")
        self.model_label.setWordWrap(True)

        buttons = QHBoxLayout()
        buttons.addWidget(self.generate_button, 2)
        buttons.addWidget(self.cancel_button, 1)
        left = QWidget()
        column = QVBoxLayout(left)
        scroll = QScrollArea()
        scroll.setWidget(self.panel)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        column.addWidget(self.model_picker)
        column.addWidget(self.model_label)
        column.addWidget(scroll, 1)
        column.addLayout(buttons)
        column.addWidget(self.progress)
        column.addWidget(self.progress_label)
        self.queue = JobQueue()
        self.queue_label = QLabel()
        remove = QPushButton("Remove")
        remove.setToolTip("Remove the selected waiting jobs (Delete)")
        remove.clicked.connect(self.queue.remove_selected)
        clear = QPushButton("Clear queue")
        clear.clicked.connect(self.queue.clear_all)
        QShortcut(QKeySequence.StandardKey.Delete, self.queue, activated=self.queue.remove_selected)
        queue_buttons = QHBoxLayout()
        queue_buttons.addWidget(self.queue_label, 1)
        queue_buttons.addWidget(remove)
        queue_buttons.addWidget(clear)
        column.addLayout(queue_buttons)
        column.addWidget(self.queue)
        self.queue.model().rowsInserted.connect(self._show_queue_size)
        self.queue.model().rowsRemoved.connect(self._show_queue_size)

        self.error_banner = QLabel()
        self.error_banner.setObjectName("errorBanner")
        self.error_banner.setWordWrap(True)
        self.error_banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_banner.setStyleSheet(
            "QLabel#errorBanner { background: #6b2226; color: white; padding: 8px;"
            " border-radius: 4px; }"
        )
        self.error_banner.hide()
        self.canvas = Canvas(self.doc)
        self.tools = self._build_toolbar()
        right = QWidget()
        stack = QVBoxLayout(right)
        stack.setContentsMargins(0, 0, 0, 0)
        stack.addWidget(self.tools)
        stack.addWidget(self.error_banner)
        stack.addWidget(self.canvas, 1)
        self.history = HistoryStrip(self.output_dir)
        stack.addWidget(self.history)

        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([340, 860])
        self.setCentralWidget(splitter)

    def _build_toolbar(self) -> QToolBar:
        bar = QToolBar("Mask tools")
        self.brush_action = bar.addAction("Brush")
        self.eraser_action = bar.addAction("Eraser")
        for action, tip in ((self.brush_action, "B"), (self.eraser_action, "E")):
            action.setCheckable(True)
            action.setToolTip(f"{action.text()} ({tip}) — paints the area to regenerate")
        self.brush_action.setChecked(True)
        self.size_slider = _slider(1, 512, self.canvas.brush.size, "Brush size ([ and ])")
        self.hardness_slider = _slider(0, 100, 80, "Brush hardness: 0 soft, 100 hard edge")
        self.opacity_slider = _slider(0, 100, 50, "Mask overlay opacity")
        self.size_value = QLabel()
        self.color_button = QPushButton("Mask colour")
        self.zoom_label = QLabel()
        for label, widget in (
            ("Size", self.size_slider),
            (None, self.size_value),
            ("Hardness", self.hardness_slider),
            ("Mask", self.opacity_slider),
        ):
            if label:
                bar.addWidget(QLabel(f" {label} "))
            bar.addWidget(widget)
        bar.addWidget(self.color_button)
        bar.addSeparator()
        bar.addWidget(self.zoom_label)
        return bar

    def _build_menus(self) -> None:
        menus = self.menuBar()
        file_menu = menus.addMenu("&File")
        self._add(file_menu, "&New canvas…", "Ctrl+N", self.new_canvas)
        self._add(file_menu, "&Open image…", QKeySequence.StandardKey.Open, self.open_dialog)
        self._add(file_menu, "Save image &as…", "Ctrl+Shift+S", self.save_dialog)
        self._add(file_menu, "&Export mask…", "Ctrl+Shift+E", self.export_mask_dialog)
        file_menu.addSeparator()
        self._add(file_menu, "Se&ttings…", QKeySequence.StandardKey.Preferences, self.open_settings)
        file_menu.addSeparator()
        self._add(file_menu, "&Quit", QKeySequence.StandardKey.Quit, self.close)
        edit = menus.addMenu("&Edit")
        undo = self.doc.undo_stack.createUndoAction(self, "&Undo")
        undo.setShortcut(QKeySequence.StandardKey.Undo)
        redo = self.doc.undo_stack.createRedoAction(self, "&Redo")
        redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        edit.addActions([undo, redo])
        self.undo_action, self.redo_action = undo, redo
        edit.addSeparator()
        self._add(edit, "&Paste image", QKeySequence.StandardKey.Paste, self.paste_image)
        self._add(edit, "&Invert mask", "Ctrl+I", self.doc.invert_mask)
        self._add(edit, "&Clear mask", "Ctrl+Shift+A", self.doc.clear_mask)
        self._add(edit, "&Fill mask", "Ctrl+Shift+F", self.doc.fill_mask)
        self.upscaler = UpscaleController(self)  # Image → Upscale… (gui/upscale_dialog.py)
        self._add(menus.addMenu("&Image"), "&Upscale…", "Ctrl+U", self.upscaler.open_dialog)
        view = menus.addMenu("&View")
        self._add(
            view, "Zoom &in", QKeySequence.StandardKey.ZoomIn, lambda: self.canvas.zoom_by(1.25)
        )
        self._add(
            view, "Zoom &out", QKeySequence.StandardKey.ZoomOut, lambda: self.canvas.zoom_by(0.8)
        )
        self._add(view, "&Fit", "Ctrl+0", self.canvas.fit)
        self._add(view, "&100%", "Ctrl+1", self.canvas.actual_size)

    def _add(self, menu, text: str, keys, slot) -> QAction:
        action = menu.addAction(text)
        action.setShortcut(QKeySequence(keys))
        action.triggered.connect(slot)
        return action

    def _connect(self) -> None:
        self.generate_button.clicked.connect(self.generate)
        self.cancel_button.clicked.connect(self.cancel)
        self.panel.prompt.submitted.connect(self.generate)
        self.panel.negative.submitted.connect(self.generate)
        self.panel.mode_changed.connect(
            lambda _: self._on_canvas_size(self.doc.width, self.doc.height)
        )
        for keys, slot in (
            ("Ctrl+Return", self.generate),
            ("Ctrl+Enter", self.generate),
            (Qt.Key.Key_Escape, self.cancel),
            ("[", lambda: self._resize_brush(1 / 1.2)),
            ("]", lambda: self._resize_brush(1.2)),
            ("B", lambda: self._set_erase(False)),
            ("E", lambda: self._set_erase(True)),
        ):
            QShortcut(QKeySequence(keys), self, activated=slot)
        self.brush_action.triggered.connect(lambda: self._set_erase(False))
        self.eraser_action.triggered.connect(lambda: self._set_erase(True))
        self.size_slider.valueChanged.connect(self._brush_from_controls)
        self.hardness_slider.valueChanged.connect(self._brush_from_controls)
        self.opacity_slider.valueChanged.connect(self._mask_style_from_controls)
        self.color_button.clicked.connect(self._pick_mask_color)
        self.canvas.zoom_changed.connect(lambda z: self.zoom_label.setText(f" {z:.0%} "))
        self.doc.size_changed.connect(self._on_canvas_size)
        self.model_picker.model_selected.connect(self.select_model)
        self.model_picker.error.connect(self.show_error)
        self.history.open_requested.connect(self.show_from_history)
        self.history.parameters_requested.connect(self.use_parameters_of)
        self.history.delete_requested.connect(self.delete_from_history)
        self.submit.connect(self.worker.run_job)
        self.engine_changed.connect(self.worker.replace_engine)
        self.load_requested.connect(self.worker.load_model)
        # Worker signals arrive queued and run here, on the GUI thread (bound methods of a
        # GUI-thread object; a lambda would run on the worker thread).
        self.worker.status.connect(self._on_status)
        self.worker.model_loaded.connect(self._on_model_loaded)
        self.worker.progressed.connect(self._on_progress)
        self.worker.previewed.connect(self._on_preview)
        self.worker.finished.connect(self._on_finished)
        self.worker.failed.connect(self._on_failed)
        self.worker.cancelled.connect(self._on_cancelled)
        self.worker.unsaved.connect(self._on_unsaved)
        self.worker.downloading.connect(self._on_download)
        self._brush_from_controls()

    # --- brush controls ------------------------------------------------------------------------

    def _brush_from_controls(self) -> None:
        size = self.size_slider.value()
        self.size_value.setText(f"{size} px ")
        erase = self.eraser_action.isChecked()
        self.canvas.set_brush(BrushSettings(size, self.hardness_slider.value() / 100, erase))

    def _resize_brush(self, factor: float) -> None:
        size = self.size_slider.value()
        new = round(size * factor)
        self.size_slider.setValue(new if new != size else size + (1 if factor > 1 else -1))

    def _set_erase(self, erase: bool) -> None:
        self.brush_action.setChecked(not erase)
        self.eraser_action.setChecked(erase)
        self._brush_from_controls()

    def _mask_style_from_controls(self) -> None:
        self.canvas.overlay.set_style(self.canvas.overlay.color, self.opacity_slider.value() / 100)

    def _pick_mask_color(self) -> None:
        color = QColorDialog.getColor(self.canvas.overlay.color, self, "Mask colour")
        if color.isValid():
            self.canvas.overlay.set_style(color, self.opacity_slider.value() / 100)

    # --- files and clipboard -------------------------------------------------------------------

    def new_canvas(self) -> None:
        dialog = NewCanvasDialog(self.doc.width, self.doc.height, self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            width, height = dialog.chosen_size()
            self.doc.replace(np.full((height, width, 3), 255, np.uint8), "New canvas")

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open image", "", IMAGE_FILTER)
        if path:
            self.open_image(Path(path))

    def open_image(self, path: Path) -> bool:
        try:
            image = read_image(path)
        except BrushworkError as exc:
            self.show_error(str(exc))
            return False
        self.doc.replace(image, f"Open {path.name}")
        self.canvas.fit()
        self.statusBar().showMessage(f"Opened {path} ({image.shape[1]}×{image.shape[0]})")
        return True

    def paste_image(self) -> None:
        image = QGuiApplication.clipboard().image()
        if image.isNull():
            self.show_error("The clipboard holds no image.")
            return
        self.doc.replace(qimage_to_array(image), "Paste image")
        self.canvas.fit()

    def save_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save image as", "", "PNG (*.png)")
        if path:
            self.save_image(Path(path).with_suffix(".png"))

    def save_image(self, path: Path) -> bool:
        chunks = self._parameters_of_canvas()
        try:
            save_png_as(self.doc.image, path, chunks)
        except BrushworkError as exc:
            self.show_error(str(exc))
            return False
        self.statusBar().showMessage(f"Saved {path}")
        return True

    def export_mask_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export mask", "mask.png", "PNG (*.png)")
        if path:
            self.export_mask(Path(path).with_suffix(".png"))

    def export_mask(self, path: Path) -> bool:
        try:
            save_png_as(np.repeat(self.doc.mask[..., None], 3, axis=2), path, {})
        except BrushworkError as exc:
            self.show_error(str(exc))
            return False
        self.statusBar().showMessage(f"Mask exported to {path}")
        return True

    def _parameters_of_canvas(self) -> dict[str, str]:
        """The text chunks of the last result, if the canvas still shows exactly that result."""
        if not self.last_results:
            return {}
        last = self.last_results[0]
        with Image.open(last.path) as png:
            chunks = dict(png.text)
        shown = self._canvas_sized(last.image, last.request.mode)
        return chunks if np.array_equal(shown, self.doc.image) else {}

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() or event.mimeData().hasImage():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        data = event.mimeData()
        if data.hasUrls() and data.urls()[0].isLocalFile():
            path = Path(data.urls()[0].toLocalFile())
            if path.is_dir() or path.suffix.lower() in MODEL_SUFFIXES:
                self.model_picker.add_source(str(path))
            else:
                self.open_image(path)
        elif data.hasImage():
            self.doc.replace(qimage_to_array(QImage(data.imageData())), "Drop image")
        event.acceptProposedAction()

    # --- history -------------------------------------------------------------------------------

    def show_from_history(self, path: Path) -> None:
        try:
            image = read_image(path)
        except BrushworkError as exc:
            self.show_error(str(exc))
            return
        self.doc.replace(image, f"Show {path.name}")
        self.statusBar().showMessage(f"Showing {path}")

    def use_parameters_of(self, path: Path) -> bool:
        """Restores every setting stored in `path` (any supported format) into the panel."""
        try:
            found = parameters_from_image(path)
        except BrushworkError as exc:
            self.show_error(str(exc))
            return False
        note = ""
        seed = found.get("seed")
        if isinstance(seed, int) and not 0 <= seed < SEED_LIMIT:  # ComfyUI uses 64-bit seeds
            found["seed"] = seed % SEED_LIMIT
            note = f"; its seed {seed} is beyond 2³² and was wrapped to {found['seed']}"
        known = {f.name for f in dataclasses.fields(Parameters)}
        params = dataclasses.replace(
            self.panel.to_parameters(), **{k: v for k, v in found.items() if k in known}
        )
        params.random_seed = "seed" not in found  # a restored seed is meant to be re-used
        self.panel.restore(params)
        self._on_canvas_size(self.doc.width, self.doc.height)
        self.statusBar().showMessage(f"Parameters of {path.name} restored{note}")
        return True

    def confirm_delete(self, path: Path) -> bool:
        answer = QMessageBox.question(
            self, "Delete image", f"Delete {path.name} from disk? This cannot be undone."
        )
        return answer == QMessageBox.StandardButton.Yes

    def delete_from_history(self, path: Path) -> bool:
        if not self.confirm_delete(path):
            return False
        try:
            path.unlink()
        except OSError as exc:
            self.show_error(f"Could not delete {path.name}: {exc.strerror or exc}.")
            return False
        self.history.remove(path)
        self.statusBar().showMessage(f"Deleted {path.name}")
        return True

    # --- generation ----------------------------------------------------------------------------

    def load_model(self) -> None:
        self.model_label.setText("Model: loading…")
        self.load_requested.emit(self.model)

    def select_model(self, model: str | None) -> None:
        """Uses `model` for the next jobs and loads it now, so the first image comes sooner."""
        if model == self.model:
            return
        self.model = model
        self.save_settings()
        self.load_model()

    def _on_canvas_size(self, width: int, height: int) -> None:
        self.panel.show_canvas_size(width, height)

    @Slot()
    def generate(self) -> None:
        """Queues `batch count` jobs with successive seeds; starts one if nothing is running."""
        try:
            if self.panel.current_mode is CanvasMode.OUTPAINT:
                request = self._extend_for_outpaint()
            else:
                request = self.panel.request(self.model, self.doc.image, self.doc.mask)
        except BrushworkError as exc:
            self.show_error(str(exc))
            return
        self.error_banner.hide()
        request = request.with_resolved_seed()
        for k in range(self.panel.batch_count.value()):
            seed = item_seed(request.seed, k * request.batch_size)
            self.queue.push(self._next_job, request.replace(seed=seed))
            self._next_job += 1
        self._start_next()

    def _extend_for_outpaint(self) -> GenerationRequest:
        """Extends the canvas (one undo step) with the new area as the mask, so the preview and
        the result land in place; the request inpaints exactly this canvas."""
        job = self.panel.outpaint(self.model, self.doc.image)
        self.doc.replace(job.request.init_image, "Extend canvas", mask=job.request.mask)
        self.canvas.fit()
        if job.note:
            self.statusBar().showMessage(job.note)
        return job.request

    def _start_next(self) -> None:
        if self.running_job:
            return
        job = self.queue.pop_next()
        if job is None:
            return
        job_id, request = job
        self.running_job = job_id
        self.canvas.begin_job(job_id, masked=request.mode is Mode.INPAINT)
        self.progress.setRange(0, request.steps)
        self.progress.setValue(0)
        self.progress_label.setText("Starting…")
        self._set_running(True)
        self.submit.emit(job_id, request)

    def _show_queue_size(self) -> None:
        count = self.queue.count()
        self.queue_label.setText(f"{count} waiting" if count else "Queue empty")

    @Slot()
    def cancel(self) -> None:
        if self.running_job:
            self.worker.cancel(self.running_job)
            self.progress_label.setText("Cancelling…")

    def show_error(self, message: str) -> None:
        self.error_banner.setText(message)
        self.error_banner.show()

    def _set_running(self, running: bool) -> None:
        self.generate_button.setText("Add to queue" if running else "Generate")
        self.cancel_button.setEnabled(running)

    def _end_job(self, job: int, label: str) -> bool:
        if job != self.running_job:
            return False
        self.running_job = 0
        self.canvas.end_job()
        self._set_running(False)
        self.progress_label.setText(label)
        QTimer.singleShot(0, self._start_next)  # after this job's result is applied
        return True

    def _canvas_sized(self, image: np.ndarray, mode: Mode) -> np.ndarray:
        """A canvas-mode result at the canvas size (it was generated at the size snapped to 8)."""
        size = (self.doc.width, self.doc.height)
        if mode is Mode.TXT2IMG or image.shape[1::-1] == size:
            return image
        return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))

    # --- worker signals ------------------------------------------------------------------------

    @Slot(str)
    def _on_status(self, text: str) -> None:
        if self.running_job:
            self.progress_label.setText(text)
        else:
            self.statusBar().showMessage(text)

    @Slot(str, int)
    def _on_model_loaded(self, name: str, native_size: int) -> None:
        self.model_label.setText(f"Model: {name}")
        resized = self._follow_native_size(native_size)
        if resized:
            self.statusBar().showMessage(
                f"Size set to {native_size}×{native_size}, the size {name} was trained at"
            )
        elif not self.running_job:
            self.statusBar().showMessage(f"Model {name} ready · images go to {self.output_dir}")

    def _follow_native_size(self, native_size: int) -> bool:
        """Moves the size to a newly loaded model's own (as InvokeAI does on a model change),
        unless the user chose another: still at the previous model's size means not chosen.
        Far from its size a model repeats its subject (the bundled 64-px model tiles at 512)."""
        previous = self._native_size
        if not native_size or native_size == previous:
            return False
        self._native_size = native_size
        unchosen = previous or DEFAULT_SIZE
        if self.panel.txt2img_size != (unchosen, unchosen):
            return False
        self.panel.set_size(native_size, native_size)
        return True

    @Slot(int, int, int, float)
    def _on_progress(self, job: int, step: int, total: int, elapsed: float) -> None:
        if job != self.running_job:
            return
        self.progress.setFormat("Step %v/%m")
        self.progress.setRange(0, total)
        self.progress.setValue(step)
        self.progress_label.setText(format_progress(step, total, elapsed))

    @Slot(int, str, object, object)
    def _on_download(self, job: int, text: str, done: int, total: int) -> None:
        if job != self.running_job:
            return
        # QProgressBar holds ints: show kilobytes so multi-gigabyte models fit.
        self.progress.setFormat("%p%")
        self.progress.setRange(0, max(total // 1024, 1))
        self.progress.setValue(done // 1024)
        self.progress_label.setText(text)

    @Slot(int, QImage, object)
    def _on_preview(self, job: int, image: QImage, region: object) -> None:
        self.canvas.show_preview(job, image, region)  # type: ignore[arg-type]

    @Slot(int, object)
    def _on_finished(self, job: int, results: list[GeneratedImage]) -> None:
        if not self._end_job(job, "Done"):
            return
        self.last_results = results
        first = results[0]
        canvas_image = self._canvas_sized(first.image, first.request.mode)
        self.doc.replace(canvas_image, f"Generate: {first.request.prompt[:40]}")
        self.panel.show_used_seed(first.seed)
        for result in reversed(results):
            self.history.add_image(result.path)
        self.save_settings()
        self.save_session()  # every generation: a crash from here on loses nothing
        names = ", ".join(r.path.name for r in results)
        notes = " ".join(first.notes)  # e.g. an out-of-memory retry or a truncated prompt
        message = f"Saved {names} in {first.path.parent} · seed {first.seed}"
        self.statusBar().showMessage(f"{message} · {notes}" if notes else message)

    @Slot(int, str)
    def _on_failed(self, job: int, message: str) -> None:
        if job == 0 or self._end_job(job, "Failed"):
            self.show_error(message)

    @Slot(int, object, str)
    def _on_unsaved(self, job: int, error: ImageNotSavedError, message: str) -> None:
        """The disk refused the result (read-only, full): keep it on the canvas, say so."""
        if not self._end_job(job, "Not saved"):
            return
        for result in error.saved:
            self.history.add_image(result.path)
        first = error.unsaved[0]
        # Written to the temp folder (with parameters): Save As can carry them over.
        self.last_results = list(error.unsaved) if error.fallback else []
        self.doc.replace(self._canvas_sized(first.image, first.request.mode), "Unsaved result")
        self.panel.show_used_seed(first.seed)
        self.save_session()
        self.show_error(f"{message} {_where_unsaved_images_are(error)}")

    @Slot(int)
    def _on_cancelled(self, job: int) -> None:
        if self._end_job(job, "Cancelled"):
            self.statusBar().showMessage("Cancelled")

    def closeEvent(self, event: QCloseEvent) -> None:
        self.cancel()  # the app waits for the worker thread after the event loop ends
        self.save_settings()
        self.save_session()
        super().closeEvent(event)


def _where_unsaved_images_are(error: ImageNotSavedError) -> str:
    count = len(error.unsaved)
    if error.fallback:
        what = "The image was" if count == 1 else f"The {count} images were"
        return (
            f"{what} written to {error.fallback} instead (the first is on the canvas): use "
            "File → Save image as… to keep it, or choose another output folder in Settings."
        )
    lost = f" The other {count - 1} images of the batch could not be kept." if count > 1 else ""
    return (
        "The image is on the canvas but not saved: use File → Save image as… to keep it, or "
        f"choose another output folder in Settings.{lost}"
    )


class NewCanvasDialog(QDialog):
    def __init__(self, width: int, height: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New canvas")
        self.width_box, self.height_box = QSpinBox(), QSpinBox()
        for box, value in ((self.width_box, width), (self.height_box, height)):
            box.setRange(8, 8192)
            box.setSingleStep(8)
            box.setValue(value)
            box.setSuffix(" px")
        form = QFormLayout(self)
        form.addRow("Width", self.width_box)
        form.addRow("Height", self.height_box)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def chosen_size(self) -> tuple[int, int]:
        return self.width_box.value(), self.height_box.value()


def _slider(low: int, high: int, value: int, tip: str) -> QSlider:
    slider = QSlider(Qt.Orientation.Horizontal)
    slider.setRange(low, high)
    slider.setValue(value)
    slider.setToolTip(tip)
    slider.setMinimumWidth(70)
    slider.setMaximumWidth(140)
    return slider


def format_progress(step: int, total: int, elapsed: float) -> str:
    """`Step 3/20 · 4.2 it/s · ETA 0:04` (s/it when slower than one step a second)."""
    if step <= 0 or elapsed <= 0:
        return f"Step {step}/{total}"
    rate = step / elapsed
    speed = f"{rate:.1f} it/s" if rate >= 1 else f"{1 / rate:.1f} s/it"
    remaining = round((total - step) / rate)
    return f"Step {step}/{total} · {speed} · ETA {remaining // 60}:{remaining % 60:02d}"
