"""User settings: one JSON file in the platform config dir, written atomically.

A settings file that cannot be read never stops the app: the defaults are used, the broken file
is kept beside it as `.bak` for the user, and `notice` says what happened. Values of the wrong
type fall back to their defaults one by one, so one bad field does not reset the rest.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.atomic import write_json_atomically

APP_NAME = "Brushwork"


@dataclass
class Parameters:
    """The panel's last values, restored at the next start."""

    mode: str = "txt2img"
    prompt: str = ""
    negative_prompt: str = ""
    sampler: str = "euler_a"
    steps: int = 20
    guidance: float = 7.0
    seed: int | None = None
    random_seed: bool = True
    width: int = 512
    height: int = 512
    strength: float = 0.75
    mask_blur: int = 4
    mask_grow: int = 0
    only_masked: bool = False
    padding: int = 32
    color_correction: bool = True
    outpaint_sides: list[int] = field(default_factory=lambda: [0, 0, 128, 0])


@dataclass
class Settings:
    parameters: Parameters = field(default_factory=Parameters)
    output_dir: str | None = None  # None: the platform default
    models: list[str] = field(default_factory=list)
    model: str | None = None  # None: the bundled model
    native_size: int = 0  # of the last model loaded: a size still at it was not the user's choice
    device: str = "auto"
    precision: str = "auto"
    memory_savings: str = "auto"  # auto: planned per job; off: never
    previews: bool = True  # live previews at every step
    allow_pickle: bool = False  # load .ckpt/.pt (weights only) after an explicit opt-in
    window_geometry: str = ""  # Qt's saveGeometry(), base64
    backend: str = "local"  # local, or servers (ComfyUI, see gui/remote_backend.py)
    servers: list[str] = field(default_factory=list)  # ComfyUI server URLs
    server_checkpoint: str = ""  # the checkpoint the servers run
    brush_size: float = 0.125  # a fraction of the image's shorter side (gui/brush_size.py)
    mask_color: str = "#ff285a"
    mask_opacity: float = 0.5


def default_settings_path() -> Path:
    import platformdirs

    return platformdirs.user_config_path(APP_NAME, appauthor=False) / "settings.json"


class SettingsStore:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_settings_path()
        self.notice = ""

    def load(self) -> Settings:
        if not self.path.exists():
            return Settings()
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as exc:
            backup = self.path.with_suffix(".json.bak")
            with contextlib.suppress(OSError):
                os.replace(self.path, backup)
            self.notice = (
                f"Your settings file could not be read ({exc}); defaults are used and the old "
                f"file was kept as {backup.name}."
            )
            return Settings()
        return _settings_from(data)

    def save(self, settings: Settings) -> None:
        """Writes atomically (temp file + rename): a crash never leaves half a settings file."""
        write_json_atomically(self.path, dataclasses.asdict(settings), indent=2)


def parameters_from(data: Any) -> Parameters:
    """Parameters from saved JSON data; fields that are missing or of the wrong type keep
    their defaults."""
    return _fill(Parameters(), data)


def _settings_from(data: dict[str, Any]) -> Settings:
    settings = _fill(Settings(), data)
    settings.parameters = parameters_from(data.get("parameters"))
    settings.models = [m for m in settings.models if isinstance(m, str)]
    settings.servers = [u for u in settings.servers if isinstance(u, str)]
    return settings


def _fill(target: Any, data: Any) -> Any:
    """Copies the values of `data` that fit their field's annotation; the rest keep defaults."""
    if not isinstance(data, dict):
        return target
    for item in dataclasses.fields(target):
        if item.name in data and _accepts(str(item.type), data[item.name]):
            setattr(target, item.name, data[item.name])
    return target


_KINDS: dict[str, type | tuple[type, ...]] = {
    "int": int,
    "float": (int, float),
    "str": str,
    "list": list,
}


def _accepts(annotation: str, value: Any) -> bool:
    """Whether `value` fits an annotation such as "int | None" or "list[str]"."""
    if value is None:
        return "None" in annotation
    base = annotation.split("|")[0].split("[")[0].strip()
    if isinstance(value, bool) or base == "bool":
        return isinstance(value, bool) and base == "bool"
    return isinstance(value, _KINDS.get(base, ()))
