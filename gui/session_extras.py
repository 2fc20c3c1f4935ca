"""What the session keeps beside the canvas and the field table: the LoRAs switched on in the
list and the Control units, so a crash or restart gives back the same set-up, not only the same
prompt. Plain data with its JSON form; the manifest is a file like any other, so every value is
checked on the way in and a bad one is dropped with a note (the rest still restores)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from pipeline.control import MAX_CONTROLS, MODULES

CANVAS, FILE, LAYER = "Canvas", "File", "Control layer"  # a unit's image source
SOURCES = (CANVAS, FILE, LAYER)
MAX_LORAS = 64
MAX_TEXT = 4096  # a path or a model id
LORA_WEIGHT_LIMIT = 10.0  # the list's slider goes to ±2; a tag may say more, never this much


@dataclass(frozen=True)
class ControlUnitState:
    enabled: bool = True
    module: str = "scribble"
    model: str = ""
    source: str = CANVAS
    file: str | None = None  # the control image file (source File)
    layer: str = ""  # the control layer's name (source Control layer)
    strength: float = 1.0
    start: float = 0.0
    end: float = 1.0


@dataclass(frozen=True)
class SessionExtras:
    loras: tuple[tuple[str, float], ...] = ()  # (name in the LoRA list, weight), the ones on
    control: tuple[ControlUnitState, ...] = ()


def extras_to_json(extras: SessionExtras) -> dict[str, Any]:
    return {
        "loras": [[name, weight] for name, weight in extras.loras],
        "control": [asdict(unit) for unit in extras.control],
    }


def extras_from_json(data: Any) -> tuple[SessionExtras, list[str]]:
    """The extras in a manifest (absent in older sessions: none), and a note per dropped part."""
    if data is None:
        return SessionExtras(), []
    if not isinstance(data, dict):
        return SessionExtras(), ["The saved LoRAs and Control units could not be read back."]
    notes: list[str] = []
    loras = _loras(data.get("loras", []), notes)
    control = _control(data.get("control", []), notes)
    return SessionExtras(loras, control), notes


def _loras(data: Any, notes: list[str]) -> tuple[tuple[str, float], ...]:
    if not isinstance(data, list) or len(data) > MAX_LORAS:
        notes.append("The saved LoRA list could not be read back.")
        return ()
    loras = []
    for entry in data:
        if (isinstance(entry, list) and len(entry) == 2 and _text(entry[0], 255)
                and _number(entry[1], -LORA_WEIGHT_LIMIT, LORA_WEIGHT_LIMIT)):  # fmt: skip
            loras.append((entry[0], float(entry[1])))
        else:
            notes.append("A saved LoRA entry was not valid and was left off.")
    return tuple(loras)


def _control(data: Any, notes: list[str]) -> tuple[ControlUnitState, ...]:
    if not isinstance(data, list) or len(data) > MAX_CONTROLS:
        notes.append("The saved Control units could not be read back.")
        return ()
    units = []
    for number, entry in enumerate(data):
        unit = _unit(entry)
        if unit is None:
            notes.append(f"Saved Control unit {number} was not valid and was left off.")
        else:
            units.append(unit)
    return tuple(units)


def _unit(data: Any) -> ControlUnitState | None:
    if not isinstance(data, dict):
        return None
    # A unit saved by an older Brushwork lacks later fields (they take their defaults); one
    # saved by a newer Brushwork has fields this one does not know (left out).
    fields = ControlUnitState.__dataclass_fields__
    entry = {name: data.get(name, field.default) for name, field in fields.items()}
    valid = (
        isinstance(entry["enabled"], bool)
        and entry["module"] in MODULES
        and _text(entry["model"], MAX_TEXT, empty=True)
        and entry["source"] in SOURCES
        and (entry["file"] is None or _text(entry["file"], MAX_TEXT))
        and _text(entry["layer"], 80, empty=True)
        and _number(entry["strength"], 0.0, 2.0)
        and _number(entry["start"], 0.0, 1.0)
        and _number(entry["end"], 0.0, 1.0)
    )
    return ControlUnitState(**entry) if valid else None


def _text(value: Any, limit: int, empty: bool = False) -> bool:
    return (isinstance(value, str) and (empty or bool(value)) and len(value) <= limit
            and value.isprintable())  # fmt: skip


def _number(value: Any, low: float, high: float) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value) and low <= value <= high)  # fmt: skip
