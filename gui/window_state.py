"""What the main window remembers between runs: its settings (settings.py: restored at start,
applied from the dialog, saved after changes) and its session (session.py, autosave.py: the
canvas, its layers, parameters, model and extras). Kept apart from main_window.py, which only
composes the window's parts."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray

from pipeline import default_output_dir
from pipeline.model_card import peek_model_defaults

from .session import SessionState
from .session_extras import SessionExtras
from .settings import Settings
from .worker import engine_factory

if TYPE_CHECKING:
    from .main_window import MainWindow


def restore_settings(window: MainWindow) -> None:
    window.panel.restore(window.settings.parameters)
    # The size (and card's sampler/CFG) of the model about to load show at once.
    window.model_defaults = (
        peek_model_defaults(window.controller.model)
        or window.settings.model_defaults
        or _native(window.settings.native_size)
    )
    window.panel.follow_model(window.model_defaults)
    window.model_picker.allow_pickle = window.settings.allow_pickle
    window.controller.results_as_layer = window.settings.paint_results_to == "layer"
    models = list(window.settings.models)
    model = window.controller.model
    if model and model not in models:  # e.g. given with --model
        models.append(model)
    window.model_picker.restore(models, model)
    window.show_canvas_size(window.doc.width, window.doc.height)
    settings = window.settings
    window.tools.restore(settings.brush_size, settings.mask_color, settings.mask_opacity)
    window.live_view.restore(settings.live_strength)
    if window.settings.window_geometry:
        window.restoreGeometry(QByteArray.fromBase64(window.settings.window_geometry.encode()))
    if window.store.notice:
        window.show_error(window.store.notice)


def apply_settings(window: MainWindow, new: Settings) -> None:
    """Takes new settings; engine-related changes give the worker a fresh engine."""
    engine_keys = ("device", "precision", "memory_savings", "output_dir", "allow_pickle",
                   "backend", "servers", "server_checkpoint", "speed")  # fmt: skip
    engine_changed = any(getattr(new, k) != getattr(window.settings, k) for k in engine_keys)
    window.settings = new
    window.model_picker.allow_pickle = new.allow_pickle
    window.controller.results_as_layer = new.paint_results_to == "layer"
    window.output_dir = Path(new.output_dir) if new.output_dir else default_output_dir()
    window.controller.output_dir = window.output_dir
    window.folder_notice.folder_changed(window.history.folder, window.output_dir)
    window.history.folder = window.output_dir
    window.history.reload()
    window.extras.set_folders(new)
    if engine_changed:
        window.controller.engine_changed.emit(engine_factory(window.output_dir, new))
    window.save_settings()
    window.statusBar().showMessage(f"Settings saved · images go to {window.output_dir}")


def save_settings(window: MainWindow) -> None:
    """Saves the panel and window state; a failure is reported, never fatal."""
    window.settings.parameters = window.panel.to_parameters()
    window.settings.models = window.model_picker.sources()
    window.settings.model = window.controller.model
    window.settings.model_defaults = dict(window.model_defaults)
    window.settings.native_size = window.model_defaults.get("width", 0)
    window.settings.window_geometry = bytes(window.saveGeometry().toBase64()).decode()
    brush = window.tools.remembered()
    window.settings.brush_size, window.settings.mask_color, window.settings.mask_opacity = brush
    window.settings.live_strength = window.live.strength
    try:
        window.store.save(window.settings)
    except OSError as exc:
        window.statusBar().showMessage(f"Settings could not be saved: {exc}")


# --- session (see session.py and autosave.py) ----------------------------------------------


def session_state(window: MainWindow) -> SessionState:
    current = window.history.currentItem()
    selected = str(window.history.path_of(current)) if current is not None else None
    extras = SessionExtras(window.extras.loras.applied(), window.side.control.state())
    return SessionState(
        window.doc.image, window.doc.mask, window.panel.to_parameters(), window.controller.model,
        selected, layers=window.doc.session_layers(), active_layer=window.doc.active_index,
        extras=extras,
    )  # fmt: skip


def restore_session(window: MainWindow, state: SessionState) -> None:
    """Shows a saved session: canvas and mask (one undo step), parameters, model, history."""
    if state.layers:  # all layers as they were; an older session: its one image
        window.doc.load_layers(state.layers, "Restore session", state.mask, state.active_layer)
    else:
        window.doc.replace(state.image, "Restore session", mask=state.mask)
    window.doc.mark_stored()  # kept in the session folder; only later edits are new
    window.canvas.fit()
    window.panel.restore(state.parameters)
    if state.model != window.controller.model:
        window.controller.model = state.model
        sources = window.model_picker.sources()
        extra = [state.model] if state.model and state.model not in sources else []
        window.model_picker.restore([*sources, *extra], state.model)  # picker shows what loads
    window.show_canvas_size(window.doc.width, window.doc.height)
    if state.history_path:
        window.history.select_path(Path(state.history_path))
    notes = " ".join([*state.notes, *_restore_extras(window, state.extras)])
    window.statusBar().showMessage(f"Your previous session was restored. {notes}".strip())


def _restore_extras(window: MainWindow, extras: SessionExtras) -> list[str]:
    """The session's LoRAs on in the list and its Control units; notes for what is gone."""
    missing = window.extras.loras.restore_applied(extras.loras)
    notes = window.side.control.restore(extras.control)
    if missing:
        notes.append(f"LoRAs no longer in the LoRA folder: {', '.join(missing)}.")
    return notes


def _native(size: int) -> dict:
    return {"width": size, "height": size} if size else {}
