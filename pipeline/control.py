"""Control units of a request (ControlNet): what steers composition, checked before any work.

A unit is a control image, the preprocessor that turns it into the ControlNet's input (`module`,
"none" when the image already is one, e.g. a painted scribble), the ControlNet that reads it,
its strength (0-2, as A1111's "Weight") and the fraction of the steps it acts on (start ≤ end).
The engine side is control_engine.py; the preprocessors are preprocess.py. In image metadata a
unit is written as A1111 writes it: `ControlNet 0: "Module: canny, Model: NAME, Weight: 1,
Guidance Start: 0, Guidance End: 1"`, and read back as a plain dict (it has no image).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import RequestError

MAX_CONTROLS = 4  # diffusers' MultiControlNet takes any number; memory does not
MAX_CONTROL_STRENGTH = 2.0
MAX_CONTROL_SIDE = 8192
MODULES = ("none", "scribble", "canny", "softedge", "depth", "pose")  # see preprocess.py
A1111_KEY = "ControlNet"  # `ControlNet 0`, `ControlNet 1`, … in A1111's parameters text
_TEXT_KEYS = {  # A1111's names inside one unit's quoted value → ours
    "module": "module",
    "model": "model",
    "weight": "weight",
    "guidance start": "guidance_start",
    "guidance end": "guidance_end",
}


@dataclass(frozen=True, eq=False)
class ControlUnit:
    """One ControlNet unit. `image` is H×W×3 uint8 (read-only once checked)."""

    image: np.ndarray
    model: str
    module: str = "none"
    strength: float = 1.0
    start: float = 0.0
    end: float = 1.0

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ControlUnit):
            return NotImplemented
        same = (self.model, self.module, self.strength, self.start, self.end) == (
            other.model, other.module, other.strength, other.start, other.end
        )  # fmt: skip
        return same and np.array_equal(self.image, other.image)

    __hash__ = None  # type: ignore[assignment]  # holds an array

    def to_metadata(self) -> dict[str, Any]:
        """What the image's metadata records (the control image itself is not stored)."""
        return {
            "module": self.module,
            "model": model_display_name(self.model),
            "weight": self.strength,
            "guidance_start": self.start,
            "guidance_end": self.end,
        }


def model_display_name(text: str) -> str:
    """A ControlNet's name as metadata writes it: a file's stem, a folder's name, a Hub id."""
    if "/" in text and not Path(text).expanduser().exists() and text.count("/") == 1:
        return text  # a Hub id
    path = Path(text)
    return path.stem if path.suffix.lower() == ".safetensors" else path.name or text


def check_controls(value: Any) -> tuple[ControlUnit, ...]:
    """The request's `controls`: ControlUnits, each checked (messages name unit and value)."""
    if value is None:
        return ()
    if isinstance(value, (str, bytes, np.ndarray)) or not isinstance(value, Iterable):
        raise RequestError(f"controls must be a list of control units (got {value!r:.80}).")
    units = tuple(value)
    if len(units) > MAX_CONTROLS:
        raise RequestError(f"At most {MAX_CONTROLS} ControlNet units at once (got {len(units)}).")
    return tuple(_check_unit(k, unit) for k, unit in enumerate(units))


def _check_unit(index: int, unit: Any) -> ControlUnit:
    label = f"ControlNet unit {index}"
    if not isinstance(unit, ControlUnit):
        raise RequestError(f"{label} must be a ControlUnit with an image (got {unit!r:.80}).")
    if not isinstance(unit.model, str) or not unit.model.strip():
        raise RequestError(f"{label} needs a ControlNet model (a folder, file or Hub id).")
    if unit.module not in MODULES:
        raise RequestError(
            f"{label}: unknown control type {unit.module!r}; choose one of: {', '.join(MODULES)}."
        )
    strength = _number(label, "strength", unit.strength, MAX_CONTROL_STRENGTH)
    start = _number(label, "start", unit.start, 1.0)
    end = _number(label, "end", unit.end, 1.0)
    if start > end:
        raise RequestError(
            f"{label}: start {start:g} is after end {end:g}; the unit acts from start to end "
            "(fractions of the steps, 0-1)."
        )
    image = _check_image(label, unit.image)
    return ControlUnit(image, unit.model.strip(), unit.module, strength, start, end)


def _number(label: str, name: str, value: Any, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise RequestError(f"{label}: {name} must be a number (got {value!r:.40}).")
    if not math.isfinite(value) or not 0.0 <= value <= high:
        raise RequestError(f"{label}: {name} must be between 0 and {high:g} (got {value}).")
    return float(value)


def _check_image(label: str, image: Any) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        got = f"{image.dtype} array" if isinstance(image, np.ndarray) else type(image).__name__
        raise RequestError(f"{label}: the control image must be a uint8 H×W×3 array (got {got}).")
    if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 1:
        raise RequestError(
            f"{label}: the control image must be RGB (H×W×3), got shape {image.shape}."
        )
    if max(image.shape[:2]) > MAX_CONTROL_SIDE:
        raise RequestError(
            f"{label}: the control image is {image.shape[1]}×{image.shape[0]}; the largest side "
            f"allowed is {MAX_CONTROL_SIDE}."
        )
    if not image.flags.writeable:
        return image
    frozen = np.array(image, copy=True)
    frozen.setflags(write=False)
    return frozen


# --- A1111 text ---------------------------------------------------------------------------
def format_control_pairs(
    units: Iterable[Mapping[str, Any] | ControlUnit],
) -> list[tuple[str, str]]:
    """`ControlNet k` pairs for A1111's parameters text (values quoted by the writer)."""
    pairs = []
    for k, item in enumerate(units):
        unit = item.to_metadata() if isinstance(item, ControlUnit) else item
        text = (
            f"Module: {unit['module']}, Model: {_clean_name(unit['model'])}, "
            f"Weight: {unit['weight']:g}, Guidance Start: {unit['guidance_start']:g}, "
            f"Guidance End: {unit['guidance_end']:g}"
        )
        pairs.append((f"{A1111_KEY} {k}", text))
    return pairs


def _clean_name(name: str) -> str:
    """Commas and colons would split the unit's own `Key: value` list when read back."""
    return str(name).replace(",", " ").replace(":", " ").replace("\n", " ")


def parse_control_pairs(params: Mapping[str, str]) -> tuple[dict[str, Any], ...]:
    """The units of A1111's `ControlNet k` values, in k order, as plain dicts. Plain string
    splits (no regex: the text is untrusted); a value that does not parse is left out."""
    found: dict[int, dict[str, Any]] = {}
    for key, value in params.items():
        head, _, number = key.partition(" ")
        if head != A1111_KEY or not (number.isascii() and number.isdigit() and len(number) < 3):
            continue
        unit = _parse_unit(value)
        if unit is not None:
            found[int(number)] = unit
    return tuple(found[k] for k in sorted(found))


def _parse_unit(text: str) -> dict[str, Any] | None:
    unit: dict[str, Any] = {}
    for part in text.split(",")[:32]:
        name, sep, value = part.partition(":")
        ours = _TEXT_KEYS.get(name.strip().lower())
        if sep and ours:
            unit[ours] = value.strip()
    try:
        for name in ("weight", "guidance_start", "guidance_end"):
            if name in unit:
                unit[name] = float(unit[name])
                if not math.isfinite(unit[name]):
                    return None
    except ValueError:
        return None
    return unit if "model" in unit else None
