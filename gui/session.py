"""The working session, saved as it changes so a crash or `kill -9` loses almost nothing.

A session is the canvas image, the mask, the panel's parameters, the model and the image picked
in the history strip. It lives in `<user data dir>/Brushwork/session/`:

- `canvas-<id>.png` and `mask-<id>.png`, each written atomically (temp file + rename);
- `manifest.json`, replaced last, naming the two PNGs of the current save. A kill at any moment
  leaves either the old manifest with its old PNGs (removed only after the new manifest is in
  place) or the new one: never a session that mixes or truncates files;
- `running`, a marker holding the process id while the app runs. A clean exit removes it, so a
  marker found at start means the last run crashed (or was killed) and its session is offered.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtWidgets import QMessageBox, QWidget

from pipeline import BrushworkError
from pipeline.imagefiles import read_image
from pipeline.outputs import save_png_as

from .settings import APP_NAME, Parameters, parameters_with_notes

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
RUNNING_MARKER = "running"
RESTORE_ENV = "BRUSHWORK_RESTORE_SESSION"  # "yes"/"no" answers the restore question (tests)


@dataclass
class SessionState:
    image: np.ndarray  # H×W×3 uint8
    mask: np.ndarray  # H×W uint8
    parameters: Parameters
    model: str | None = None
    history_path: str | None = None  # the image selected in the history strip
    notes: list[str] = dataclasses.field(default_factory=list)  # values dropped when loading


def default_session_dir() -> Path:
    import platformdirs

    return platformdirs.user_data_path(APP_NAME, appauthor=False) / "session"


class SessionStore:
    """Reads and writes the session folder; every write is crash-safe (see the module doc)."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or default_session_dir()

    @property
    def manifest(self) -> Path:
        return self.folder / MANIFEST

    @property
    def marker(self) -> Path:
        return self.folder / RUNNING_MARKER

    # --- crash detection -----------------------------------------------------------------------

    def mark_running(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.marker.write_text(str(os.getpid()), encoding="utf-8")

    def mark_clean_exit(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.marker.unlink()

    def crashed(self) -> bool:
        """The last run ended without a clean exit and left a session behind."""
        if not (self.marker.exists() and self.manifest.exists()):
            return False
        return not _another_instance_running(self.marker)

    # --- saving and loading --------------------------------------------------------------------

    def save(self, state: SessionState) -> None:
        """Writes the PNGs under fresh names, then swaps the manifest in; raises OSError."""
        self.folder.mkdir(parents=True, exist_ok=True)
        token = uuid.uuid4().hex[:12]
        canvas, mask = f"canvas-{token}.png", f"mask-{token}.png"
        try:
            save_png_as(state.image, self.folder / canvas, {})
            save_png_as(np.repeat(state.mask[..., None], 3, axis=2), self.folder / mask, {})
        except BrushworkError as exc:
            raise OSError(str(exc)) from exc
        manifest = {
            "version": FORMAT_VERSION,
            "canvas": canvas,
            "mask": mask,
            "parameters": dataclasses.asdict(state.parameters),
            "model": state.model,
            "history_path": state.history_path,
        }
        _write_json_atomically(self.manifest, manifest)
        self._remove_unreferenced({canvas, mask})

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
        if mask.shape != image.shape[:2]:
            mask = np.zeros(image.shape[:2], np.uint8)
        model, history = data.get("model"), data.get("history_path")
        parameters, notes = parameters_with_notes(data.get("parameters"))
        return SessionState(
            image=image,
            mask=mask,
            parameters=parameters,
            model=model if isinstance(model, str) else None,
            history_path=history if isinstance(history, str) else None,
            notes=notes,
        )

    def _remove_unreferenced(self, keep: set[str]) -> None:
        for path in self.folder.glob("*.png"):
            if path.name not in keep:
                with contextlib.suppress(OSError):
                    path.unlink()


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


def _file_name(value: Any) -> str:
    """A file name from the manifest, refusing anything that would leave the session folder."""
    if not isinstance(value, str) or Path(value).name != value or not value.endswith(".png"):
        raise ValueError(f"bad file name in the session manifest: {value!r}")
    return value


def _write_json_atomically(path: Path, data: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".manifest-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, ensure_ascii=False)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _another_instance_running(marker: Path) -> bool:
    """The marker belongs to a Brushwork that is still running (then it did not crash)."""
    import psutil  # a dependency of accelerate, which the engine needs anyway

    try:
        pid = int(marker.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return False
    return pid != os.getpid() and psutil.pid_exists(pid)
