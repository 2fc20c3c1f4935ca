"""The hires-fix request fields, each defined once: name, type, default, bounds, A1111 key and
how it is parsed from and formatted into A1111's `parameters` text.

request.py, metadata.py and the CLI read these definitions instead of repeating them, so the
whole set can move into a shared field table as it stands.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import RequestError

MAX_HIRES_SCALE = 4.0
LATENT, LANCZOS = "latent", "lanczos"  # built-in upscalers; anything else names a model file


@dataclass(frozen=True)
class HiresField:
    name: str  # GenerationRequest attribute and JSON key
    kind: type
    default: Any
    low: float
    high: float
    a1111_key: str
    parse: Callable[[str], Any]  # A1111 text → value
    format: Callable[[Any], str]  # value → A1111 text


def _upscaler_name(text: str) -> str:
    lowered = text.strip().lower()
    return lowered if lowered in (LATENT, LANCZOS) else text.strip()


def _upscaler_label(name: str) -> str:
    return name.capitalize() if name in (LATENT, LANCZOS) else name  # A1111 writes "Latent"


HIRES_FIELDS: tuple[HiresField, ...] = (
    # 0 = off; otherwise the factor from the first pass's size to the final one (A1111: 1–4).
    HiresField("hires_scale", float, 0.0, 0.0, MAX_HIRES_SCALE, "Hires upscale", float,
               lambda v: f"{v:g}"),
    # The second pass's img2img strength; A1111 writes it as "Denoising strength".
    HiresField("hires_strength", float, 0.5, 0.0, 1.0, "Denoising strength", float,
               lambda v: f"{v:g}"),
    # Steps of the second pass; 0 = the same as the first pass (A1111's rule).
    HiresField("hires_steps", int, 0, 0, 500, "Hires steps", int, str),
    HiresField("hires_upscaler", str, LANCZOS, 0, 200, "Hires upscaler", _upscaler_name,
               _upscaler_label),
)  # fmt: skip
HIRES_DEFAULTS: dict[str, Any] = {f.name: f.default for f in HIRES_FIELDS}
_BY_NAME = {f.name: f for f in HIRES_FIELDS}


def check_hires(values: dict[str, Any]) -> dict[str, Any]:
    """The hires fields, checked and normalised; raises RequestError naming field and value."""
    checked = {}
    for field in HIRES_FIELDS:
        value = values[field.name]
        if field.kind is str:
            if not isinstance(value, str) or not value.strip() or len(value) > field.high:
                raise RequestError(
                    f"{field.name} must be latent, lanczos or an upscaler name (got {value!r})."
                )
            value = _upscaler_name(value)
        else:
            _check_number(field, value)
            value = field.kind(value)
        checked[field.name] = value
    if 0 < checked["hires_scale"] <= 1:
        raise RequestError(
            f"hires_scale must be 0 (off) or above 1 (got {checked['hires_scale']:g})."
        )
    if checked["hires_scale"] and checked["hires_strength"] == 0:
        raise RequestError("hires_strength must be above 0 for the hires pass (got 0).")
    return checked


def _check_number(field: HiresField, value: object) -> None:
    whole = field.kind is int
    ok_types = (int,) if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, ok_types):
        what = "a whole number" if whole else "a number"
        raise RequestError(f"{field.name} must be {what} (got {value!r}).")
    if not math.isfinite(value) or not field.low <= value <= field.high:
        raise RequestError(
            f"{field.name} must be between {field.low:g} and {field.high:g} (got {value})."
        )


def hires_size(width: int, height: int, scale: float) -> tuple[int, int]:
    """The second pass's size: the first pass's times `scale`, to a multiple of 8 (as A1111)."""
    return (round(width * scale / 8) * 8, round(height * scale / 8) * 8)


def a1111_pairs(meta: dict[str, Any]) -> list[tuple[str, str]]:
    """`Key: value` pairs for the parameters text; none when the hires fix is off."""
    if not meta.get("hires_scale"):
        return []
    pairs = [(f.a1111_key, f.format(meta[f.name])) for f in HIRES_FIELDS if f.name in meta]
    return [(k, v) for k, v in pairs if not (k == "Hires steps" and v == "0")]


def parse_a1111(params: dict[str, str]) -> dict[str, Any]:
    """The hires fields found in parsed A1111 pairs (only when `Hires upscale` is there, since
    `Denoising strength` alone belongs to img2img)."""
    if "Hires upscale" not in params:
        return {}
    info: dict[str, Any] = {}
    for field in HIRES_FIELDS:
        if field.a1111_key in params:
            try:
                info[field.name] = field.parse(params[field.a1111_key])
            except ValueError:
                continue
    return info


def field(name: str) -> HiresField:
    return _BY_NAME[name]
