"""User settings: one JSON file in the platform config dir, written atomically.

A settings file that cannot be read never stops the app: the defaults are used, the broken file
is kept beside it as `.bak` for the user, and `notice` says what happened. Values of the wrong
type fall back to their defaults one by one, so one bad field does not reset the rest; the
generation parameters are checked against the field table (pipeline/fields.py), bounds included.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from pipeline import fields
from pipeline.atomic import write_json_atomically
from pipeline.live_preset import DEFAULT as LIVE_PRESET
from pipeline.speed import SpeedOptions

APP_NAME = "Brushwork"


# The panel's values of the field table (pipeline/fields.py), without the model (the model
# picker's) and with the panel's own mode, which adds outpaint.
_NOT_SAVED = ("model", "mode")
PANEL_FIELDS = tuple(
    spec.name for spec in fields.FIELDS if spec.panel and spec.name not in _NOT_SAVED
)  # a field with `panel=False` has no widget yet: neither shown nor saved
CANVAS_MODES = ("txt2img", "img2img", "inpaint", "outpaint")
DEFAULT_SIDES = (0, 0, 128, 0)
RESULTS_TO = {"layer": "A new layer (the painting below is kept)",
              "image": "The image layer (replaced)"}  # fmt: skip


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


# One attribute per table field (a new table field is saved and restored with no change here),
# plus what only the panel has: its mode, the Random box and the outpaint sides. Width, height,
# sampler and guidance None mean "the loaded model's own" (the user has not chosen one).
Parameters = dataclasses.make_dataclass(
    "Parameters",
    [
        *((name, Any, field(default=_plain(fields.default(name)))) for name in PANEL_FIELDS),
        ("mode", str, field(default="txt2img")),
        ("random_seed", bool, field(default=True)),
        ("outpaint_sides", list, field(default_factory=lambda: list(DEFAULT_SIDES))),
    ],
)
Parameters.__module__ = __name__  # for pickling and reprs (make_dataclass's own is 3.12+)
Parameters.__doc__ = "The panel's last values, restored at the next start (see above)."


@dataclass
class Settings:
    parameters: Parameters = field(default_factory=Parameters)
    output_dir: str | None = None  # None: the platform default
    models: list[str] = field(default_factory=list)
    model: str | None = None  # None: the bundled model
    native_size: int = 0  # of the last model loaded: a size still at it was not the user's choice
    model_defaults: dict = field(default_factory=dict)  # of the last model loaded (table names)
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
    paint_results_to: str = "layer"  # paint/: a result goes to a new "layer" or the "image" layer
    live_strength: float = LIVE_PRESET.strength  # live/: the Live panel's strength (live_view.py)
    # Settings → Speed (pipeline/speed.py SpeedOptions: "speed/sdpa", "speed/compile", …)
    speed: dict = field(default_factory=lambda: SpeedOptions().to_dict())
    upscalers_folder: str | None = None  # upscalers/: Image → Upscale… lists it (None: default)
    loras_folder: str | None = None  # loras/: None is <user data dir>/Brushwork/loras
    embeddings_folder: str | None = None  # embeddings/: None is <user data dir>/…/embeddings


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
        settings, notes = _settings_from(data)
        if notes:
            self.notice = "Some saved settings were out of range and reset: " + " ".join(notes)
        return settings

    def save(self, settings: Settings) -> None:
        """Writes atomically (temp file + rename): a crash never leaves half a settings file."""
        write_json_atomically(self.path, dataclasses.asdict(settings), indent=2)


def parameters_from(data: Any, native_size: int = 0) -> Parameters:
    """Parameters from saved JSON data; missing or invalid fields keep their defaults."""
    return parameters_with_notes(data, native_size)[0]


def parameters_with_notes(data: Any, native_size: int = 0) -> tuple[Parameters, list[str]]:
    """Parameters from untrusted saved data (settings.json, a session manifest), each value
    checked by the field table; one note per value that was dropped (its default is used)."""
    if not isinstance(data, dict):
        return Parameters(), []
    data = _migrated(data, native_size)
    kept, notes = fields.clean(data, PANEL_FIELDS)
    params = Parameters(**{name: _plain(value) for name, value in kept.items()})
    if data.get("mode") in CANVAS_MODES:
        params.mode = data["mode"]
    if isinstance(data.get("random_seed"), bool):
        params.random_seed = data["random_seed"]
    sides = data.get("outpaint_sides")
    if isinstance(sides, list) and len(sides) == 4 and all(_is_side(v) for v in sides):
        params.outpaint_sides = list(sides)
    return params, notes


def _is_side(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 2048


def _migrated(data: dict[str, Any], native_size: int) -> dict[str, Any]:
    """Files of Brushwork 0.1: other names for two inpaint options; a size still at the last
    model's native size (or at the old 512 before any model loaded) was never chosen."""
    data = dict(data)
    if "only_masked" in data and "inpaint_area" not in data:
        data["inpaint_area"] = "only_masked" if data.pop("only_masked") is True else "whole"
    if "padding" in data and "inpaint_padding" not in data:
        data["inpaint_padding"] = data.pop("padding")
    unchosen = native_size or 512
    if data.get("width") == data.get("height") == unchosen:
        data["width"] = data["height"] = None
    return data


def _settings_from(data: dict[str, Any]) -> tuple[Settings, list[str]]:
    settings = _fill(Settings(), data)
    if not 0 <= settings.native_size <= fields.MAX_SIZE:
        settings.native_size = 0
    settings.parameters, notes = parameters_with_notes(data.get("parameters"), settings.native_size)
    settings.models = [m for m in settings.models if isinstance(m, str)]
    settings.servers = [u for u in settings.servers if isinstance(u, str)]
    if settings.paint_results_to not in RESULTS_TO:
        settings.paint_results_to = "layer"
    settings.speed = SpeedOptions.from_dict(data.get("speed")).to_dict()
    defaults = data.get("model_defaults")
    settings.model_defaults = fields.clean(defaults)[0] if isinstance(defaults, dict) else {}
    return settings, notes


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
