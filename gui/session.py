"""The working session, saved as it changes so a crash or `kill -9` loses almost nothing.

A session is the canvas image, its layers, the mask, the panel's parameters, the LoRAs and
Control units (session_extras.py), the model and the image picked in the history strip. It
lives in `<user data dir>/Brushwork/session/`:

- `canvas-<id>.png` (the flattened picture), `mask-<id>.png` and one RGBA
  `layer-<id>-<n>.png` per layer, each written atomically (temp file + rename); the manifest
  lists the layers with their name, kind, visibility and opacity. A session from before layers
  (no list) restores as one image layer;
- `manifest.json`, replaced last, naming the two PNGs of the current save. A kill at any moment
  leaves either the old manifest with its old PNGs (removed only after the new manifest is in
  place) or the new one: never a session that mixes or truncates files;
- `lock`, locked by the running Brushwork for its whole life (an OS file lock: released by the
  kernel when the process ends, however it ends). A second Brushwork cannot take it and works
  in a temporary session of its own instead (`claim_session`);
- `running`, a marker written by the lock holder and removed by its clean exit, so a marker
  found by the next holder means the last run crashed (or was killed) and its session is
  offered. No process id is involved, so a reused PID cannot hide a crash.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock, Timeout
from PySide6.QtWidgets import QMessageBox, QWidget

from pipeline import BrushworkError
from pipeline.atomic import write_json_atomically
from pipeline.imagefiles import read_image
from pipeline.outputs import save_png_as

from .layers import LAYER_KINDS, Layer
from .session_extras import SessionExtras, extras_from_json, extras_to_json
from .settings import APP_NAME, Parameters, parameters_with_notes

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MAX_LAYERS = 256  # a manifest listing more is not one Brushwork wrote
RUNNING_MARKER = "running"
LOCK_FILE = "lock"
RESTORE_ENV = "BRUSHWORK_RESTORE_SESSION"  # "yes"/"no" answers the restore question (tests)


@dataclass
class SessionState:
    image: np.ndarray  # H×W×3 uint8
    mask: np.ndarray  # H×W uint8
    parameters: Parameters
    model: str | None = None
    history_path: str | None = None  # the image selected in the history strip
    notes: list[str] = dataclasses.field(default_factory=list)  # values dropped when loading
    layers: list[Layer] | None = None  # None: a session from before layers (the image only)
    active_layer: int = -1
    extras: SessionExtras = dataclasses.field(default_factory=SessionExtras)  # LoRAs, Control


def default_session_dir() -> Path:
    import platformdirs

    return platformdirs.user_data_path(APP_NAME, appauthor=False) / "session"


class SessionStore:
    """Reads and writes the session folder; every write is crash-safe (see the module doc)."""

    def __init__(self, folder: Path | None = None, temporary: bool = False) -> None:
        self.folder = folder or default_session_dir()
        self.temporary = temporary  # removed when released (a second instance's own session)
        self._lock: FileLock | None = None
        # Layer PNGs of the last save and the (read-only) arrays they hold: a layer whose array
        # is the same object is unchanged (Layer.snapshot) and its file is kept, not re-encoded.
        self._layer_files: dict[str, np.ndarray] = {}

    @property
    def manifest(self) -> Path:
        return self.folder / MANIFEST

    @property
    def marker(self) -> Path:
        return self.folder / RUNNING_MARKER

    # --- one Brushwork per session, and crash detection ----------------------------------------

    def claim(self) -> bool:
        """Locks the session folder for this process; False if another Brushwork holds it.
        Raises OSError if the folder cannot be created."""
        if self._lock is not None:
            return True
        self.folder.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self.folder / LOCK_FILE, timeout=0)
        try:
            lock.acquire()
        except Timeout:
            return False
        self._lock = lock
        return True

    def release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        if self.temporary:
            shutil.rmtree(self.folder, ignore_errors=True)

    def mark_running(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.marker.write_text(str(os.getpid()), encoding="utf-8")

    def mark_clean_exit(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.marker.unlink()

    def crashed(self) -> bool:
        """The last run ended without a clean exit and left a session behind. Known only to
        the holder of the lock: while another Brushwork runs, its marker is not a crash."""
        return self._lock is not None and self.marker.exists() and self.manifest.exists()

    # --- saving and loading --------------------------------------------------------------------

    def save(self, state: SessionState) -> None:
        """Writes the PNGs under fresh names, then swaps the manifest in; raises OSError."""
        self.folder.mkdir(parents=True, exist_ok=True)
        token = uuid.uuid4().hex[:12]
        canvas, mask = f"canvas-{token}.png", f"mask-{token}.png"
        try:
            save_png_as(state.image, self.folder / canvas, {})
            # Grey, not RGB: np.repeat holds the GIL for tens of ms and stalls the GUI thread.
            save_png_as(state.mask, self.folder / mask, {})
            layers = self._save_layers(state.layers or [], token)
        except BrushworkError as exc:
            raise OSError(str(exc)) from exc
        manifest = {
            "version": FORMAT_VERSION,
            "canvas": canvas,
            "mask": mask,
            "layers": layers,
            "active_layer": state.active_layer,
            "parameters": dataclasses.asdict(state.parameters),
            "model": state.model,
            "history_path": state.history_path,
            "extras": extras_to_json(state.extras),
        }
        write_json_atomically(self.manifest, manifest)
        self._remove_unreferenced({canvas, mask, *(layer["file"] for layer in layers)})

    def _save_layers(self, layers: list[Layer], token: str) -> list[dict[str, Any]]:
        entries, written = [], {}
        for number, layer in enumerate(layers):
            name = self._unchanged_file(layer.pixels) or f"layer-{token}-{number}.png"
            if name not in self._layer_files:
                save_png_as(layer.pixels, self.folder / name, {})
            written[name] = layer.pixels
            entries.append({"file": name, "name": layer.name, "kind": layer.kind,
                            "visible": layer.visible, "opacity": layer.opacity})  # fmt: skip
        self._layer_files = written
        return entries

    def _unchanged_file(self, pixels: np.ndarray) -> str | None:
        """The file of the last save holding exactly this read-only array, if still there."""
        if pixels.flags.writeable:
            return None  # could have changed since
        for name, saved in self._layer_files.items():
            if saved is pixels and (self.folder / name).is_file():
                return name
        return None

    def _load_layers(self, entries: Any, size: tuple[int, int]) -> list[Layer] | None:
        """The manifest's layers, each checked (the folder is a file like any other); None
        when there is no list (an older session). Raises ValueError for a bad entry."""
        if entries is None or entries == []:
            return None
        if not isinstance(entries, list) or len(entries) > MAX_LAYERS:
            raise ValueError("the session's layer list is not one Brushwork wrote")
        layers = []
        for entry in entries:
            if not isinstance(entry, dict):
                raise ValueError(f"bad layer entry in the session manifest: {entry!r}")
            name, kind = entry.get("name"), entry.get("kind")
            visible, opacity = entry.get("visible"), entry.get("opacity")
            if not isinstance(name, str) or kind not in LAYER_KINDS:
                raise ValueError(f"bad layer name or kind in the session manifest: {entry!r}")
            if not isinstance(visible, bool) or not _fraction(opacity):
                raise ValueError(f"bad layer visibility or opacity: {entry!r}")
            pixels = read_image(self.folder / _file_name(entry.get("file")), "RGBA")
            if pixels.shape[:2] != size:
                raise ValueError(f"layer {name!r} is not the size of the canvas")
            layers.append(Layer(name[:80], kind, pixels, visible, float(opacity)))
        return layers

    def load(self) -> SessionState | None:
        """The saved session, or None if there is none or it cannot be read."""
        try:
            data = json.loads(self.manifest.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
                return None
            image = read_image(self.folder / _file_name(data["canvas"]))
            mask = read_image(self.folder / _file_name(data["mask"]), "L")
        except (OSError, ValueError, KeyError, TypeError, BrushworkError):
            return None
        notes: list[str] = []
        try:
            layers = self._load_layers(data.get("layers"), image.shape[:2])
        except (OSError, ValueError, BrushworkError) as exc:
            layers = None  # the flattened canvas is still there: nothing the user saw is lost
            notes.append(f"The layers could not be read back ({exc}); the canvas is one image.")
        if mask.shape != image.shape[:2]:
            mask = np.zeros(image.shape[:2], np.uint8)
        model, history = data.get("model"), data.get("history_path")
        parameters, dropped = parameters_with_notes(data.get("parameters"))
        extras, extras_notes = extras_from_json(data.get("extras"))
        active = data.get("active_layer")
        return SessionState(
            image=image,
            mask=mask,
            parameters=parameters,
            model=model if isinstance(model, str) else None,
            history_path=history if isinstance(history, str) else None,
            notes=[*dropped, *notes, *extras_notes],
            layers=layers,
            active_layer=active if isinstance(active, int) and not isinstance(active, bool) else -1,
            extras=extras,
        )

    def _remove_unreferenced(self, keep: set[str]) -> None:
        for path in self.folder.glob("*.png"):
            if path.name not in keep:
                with contextlib.suppress(OSError):
                    path.unlink()


def claim_session(store: SessionStore) -> tuple[SessionStore, str]:
    """The session this process works in, and a sentence for the user if it is not `store`:
    while another Brushwork holds `store`, a temporary session of our own, so the two never
    write over each other's canvas."""
    try:
        if store.claim():
            return store, ""
    except OSError as exc:
        return store, f"The session cannot be autosaved: {exc}"
    own = SessionStore(Path(tempfile.mkdtemp(prefix="brushwork-session-")), temporary=True)
    own.claim()
    return own, (
        "Another Brushwork is running and keeps the saved session. This window works in a "
        "session of its own, which is not restored after a restart."
    )


def ask_to_restore(parent: QWidget | None) -> bool:
    """Asks "Restore your previous session?"; the environment can answer instead (tests)."""
    answer = os.environ.get(RESTORE_ENV, "").strip().lower()
    if answer in ("yes", "no"):
        return answer == "yes"
    reply = QMessageBox.question(
        parent,
        "Restore session",
        "Brushwork did not close normally last time.\n\nRestore your previous session "
        "(canvas, mask, prompt and parameters)?",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.Yes,
    )
    return reply == QMessageBox.StandardButton.Yes


RestoreQuestion = Callable[[QWidget | None], bool]


def _fraction(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and 0.0 <= value <= 1.0)  # fmt: skip


def _file_name(value: Any) -> str:
    """A file name from the manifest, refusing anything that would leave the session folder."""
    if not isinstance(value, str) or Path(value).name != value or not value.endswith(".png"):
        raise ValueError(f"bad file name in the session manifest: {value!r}")
    return value
