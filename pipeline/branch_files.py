"""Branch points on disk: one safetensors file per step, `step-0007.safetensors`, in a folder.

A file holds the step's latents, the schedule, each batch item's noise generator state and the
sampler state (tensors), and as metadata what they belong to: model name and fingerprint,
sampler, steps, size, seed, step. Files are untrusted when read: only names this module makes
are opened, inside the folder (no symlink out of it), safetensors only (no pickle), size-capped,
every key and every metadata value checked; the engine checks the shapes against the model and
the sampler state against a fresh scheduler before anything runs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import MappingProxyType
from typing import Any

from . import fields
from .atomic import replace_atomically
from .branching import BranchPoint
from .errors import RequestError
from .samplers import get_sampler

FORMAT = "brushwork-latents"
VERSION = "1"
MAX_FILE_BYTES = 256 * 2**20
MAX_META_CHARS = 200_000
_NAME = re.compile(r"step-(\d{4})\.safetensors")
_STATE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_FLOATS = ("float32", "float16", "bfloat16", "float64")


def file_name(step: int) -> str:
    return f"step-{step:04d}.safetensors"


def save_points(directory: Path, points: list[BranchPoint]) -> list[Path]:
    """Writes each point to `directory` (made if missing), each file atomically."""
    return [save_point(directory, point) for point in points]


def save_point(directory: Path, point: BranchPoint) -> Path:
    from safetensors.torch import save

    tensors: dict[str, Any] = {"latents": point.latents, "timesteps": point.timesteps}
    for k, state in enumerate(point.generator_states):
        tensors[f"generator.{k}"] = state
    layout: dict[str, Any] = {}
    for name, value in point.scheduler_state.items():
        layout[name] = _put(tensors, f"state.{name}", value)
    meta = {
        "step": point.step, "total": point.total, "offset": point.offset,
        "schedule_steps": point.schedule_steps, "sampler": point.sampler, "steps": point.steps,
        "width": point.width, "height": point.height, "seed": point.seed,
        "batch_size": point.batch_size, "model_name": point.model_name,
        "model_hash": point.model_hash, "prompt": point.prompt,
    }  # fmt: skip
    tensors = {key: t.detach().to("cpu").contiguous().clone() for key, t in tensors.items()}
    data = save(
        tensors,
        metadata={
            "format": FORMAT,
            "version": VERSION,
            "point": json.dumps(meta),
            "state": json.dumps(layout),
        },
    )
    path = Path(directory) / file_name(point.step)
    directory.mkdir(parents=True, exist_ok=True)
    return replace_atomically(path, lambda handle: handle.write(data), prefix=".step-")


def _put(tensors: dict[str, Any], key: str, value: Any) -> Any:
    """Stores `value`'s tensors under `key…` and returns its layout (JSON)."""
    import numpy as np
    import torch

    if hasattr(value, "detach"):
        tensors[key] = value
        return {"tensor": key}
    if isinstance(value, np.ndarray):
        tensors[key] = torch.from_numpy(value.copy())
        return {"ndarray": key}
    if isinstance(value, (list, tuple)):
        return {"list": [_put(tensors, f"{key}.{i}", item) for i, item in enumerate(value)]}
    return {"value": value}


def steps_in(directory: Path) -> list[int]:
    return sorted(int(m.group(1)) for p in directory.iterdir() if (m := _NAME.fullmatch(p.name)))


def load_point(directory: Path, step: int) -> BranchPoint:
    """The point of `step` in `directory`; RequestError naming what is wrong."""
    directory = Path(directory)
    if not directory.is_dir():
        raise RequestError(f"--branch-from {directory}: no such folder.")
    if not 1 <= step <= 9999:
        raise RequestError(f"--step must be between 1 and 9999 (got {step}).")
    path = directory / file_name(step)
    if not path.is_file():
        kept = steps_in(directory)
        found = f"it has steps {kept[0]}–{kept[-1]}" if kept else "it holds no step files"
        raise RequestError(f"No latents of step {step} in {directory} ({found}).")
    real = path.resolve()
    if not real.is_relative_to(directory.resolve()) or not real.is_file():
        raise RequestError(f"{path} leads outside {directory}; refused.")
    if real.stat().st_size > MAX_FILE_BYTES:
        raise RequestError(f"{path.name} is larger than {MAX_FILE_BYTES >> 20} MiB; refused.")
    return _read(real, path.name, step)


def _read(path: Path, name: str, step: int) -> BranchPoint:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata() or {}
            keys = set(handle.keys())
            _check_header(name, meta)
            point_meta = _point_meta(name, meta, step)
            layout = _json(name, meta, "state")
            expected = {"latents", "timesteps"}
            expected |= {f"generator.{k}" for k in range(point_meta["batch_size"])}
            expected |= _layout_keys(name, layout)
            if keys != expected:
                odd = sorted(keys ^ expected)[:3]
                raise _bad(name, f"it holds other tensors than a step's ({', '.join(odd)})")
            tensors = {key: handle.get_tensor(key) for key in keys}
    except RequestError:
        raise
    except SafetensorError as exc:
        raise _bad(name, f"not a readable safetensors file ({exc})") from None
    except (OSError, ValueError) as exc:
        raise _bad(name, str(exc)) from None
    return _point(name, point_meta, layout, tensors)


def _bad(name: str, why: str) -> RequestError:
    return RequestError(f"{name} is not a Brushwork latents file: {why}.")


def _check_header(name: str, meta: dict[str, str]) -> None:
    if meta.get("format") != FORMAT:
        raise _bad(name, "its metadata does not say format brushwork-latents")
    if meta.get("version") != VERSION:
        raise _bad(name, f"version {meta.get('version')!r}; this Brushwork reads {VERSION}")


def _json(name: str, meta: dict[str, str], key: str) -> Any:
    text = meta.get(key)
    if not isinstance(text, str) or len(text) > MAX_META_CHARS:
        raise _bad(name, f"its '{key}' metadata is missing or too long")
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise _bad(name, f"its '{key}' metadata is not JSON") from None


def _point_meta(name: str, meta: dict[str, str], step: int) -> dict[str, Any]:
    data = _json(name, meta, "point")
    if not isinstance(data, dict):
        raise _bad(name, "its 'point' metadata is not an object")
    ints = {
        "step": (1, 9999),
        "total": (2, 10_000),
        "offset": (0, 10_000),
        "schedule_steps": (1, fields.MAX_STEPS * 20),
        "batch_size": (1, fields.MAX_BATCH),
    }
    clean: dict[str, Any] = {}
    for key, (low, high) in ints.items():
        value = data.get(key)
        if type(value) is not int or not low <= value <= high:
            raise _bad(name, f"{key} is {value!r}")
        clean[key] = value
    if clean["step"] != step or clean["step"] > clean["total"]:
        raise _bad(name, f"it says step {clean['step']} of {clean['total']}")
    if clean["step"] == clean["total"]:
        raise RequestError(
            f"Step {step} is the saved run's last step: nothing is left to continue. Choose a "
            f"step from 1 to {clean['total'] - 1}."
        )
    try:
        for key in ("steps", "width", "height", "seed", "prompt"):
            clean[key] = fields.validate(key, data.get(key))
        if clean["seed"] is None or clean["width"] is None or clean["height"] is None:
            raise RequestError("seed, width and height must be given")
        clean["sampler"] = get_sampler(data.get("sampler")).id
    except RequestError as exc:
        raise _bad(name, str(exc).rstrip(".")) from None
    for key in ("model_name", "model_hash"):
        value = data.get(key)
        if not isinstance(value, str) or not 0 < len(value) <= 300:
            raise _bad(name, f"{key} is {str(value)[:40]!r}")
        clean[key] = value
    return clean


def _layout_keys(name: str, layout: Any) -> set[str]:
    if not isinstance(layout, dict) or len(layout) > 64:
        raise _bad(name, "its 'state' metadata is not a small object")
    keys: set[str] = set()
    for state_name, entry in layout.items():
        if not _STATE_NAME.fullmatch(state_name) or state_name.startswith("__"):
            raise _bad(name, f"sampler state name {state_name[:40]!r}")
        _collect(name, f"state.{state_name}", entry, keys, depth=0)
    return keys


def _collect(name: str, key: str, entry: Any, keys: set[str], depth: int) -> None:
    if not isinstance(entry, dict) or len(entry) != 1 or depth > 2:
        raise _bad(name, f"its layout of {key} is malformed")
    ((kind, value),) = entry.items()
    if kind in ("tensor", "ndarray"):
        if value != key:
            raise _bad(name, f"its layout of {key} names {str(value)[:40]!r}")
        keys.add(key)
    elif kind == "list":
        if not isinstance(value, list) or len(value) > 16:
            raise _bad(name, f"its layout of {key} is malformed")
        for i, item in enumerate(value):
            _collect(name, f"{key}.{i}", item, keys, depth + 1)
    elif kind == "value":
        if value is not None and type(value) not in (bool, int, float):
            raise _bad(name, f"{key} is a {type(value).__name__}, not a number")
    else:
        raise _bad(name, f"its layout of {key} is malformed")


def _point(name: str, meta: dict[str, Any], layout: dict, tensors: dict[str, Any]) -> BranchPoint:
    import torch

    latents = tensors["latents"]
    batch = meta["batch_size"]
    if latents.ndim != 4 or latents.shape[0] != batch or str(latents.dtype)[6:] not in _FLOATS:
        raise _bad(name, f"its latents have shape {tuple(latents.shape)} ({latents.dtype})")
    if not bool(torch.isfinite(latents).all()):
        raise _bad(name, "its latents hold NaN or infinite values")
    timesteps = tensors["timesteps"]
    if timesteps.ndim != 1 or not meta["offset"] + meta["total"] <= len(timesteps):
        raise _bad(name, f"its schedule has shape {tuple(timesteps.shape)}")
    state_size = torch.Generator().get_state().shape
    generators = tuple(tensors[f"generator.{k}"] for k in range(batch))
    for state in generators:
        if state.dtype != torch.uint8 or state.shape != state_size:
            raise _bad(name, "a noise generator state has the wrong size")
    state = {key: _take(entry, tensors) for key, entry in layout.items()}
    for key, value in state.items():
        for tensor in _flat_tensors(value):
            if tensor.numel() > max(latents.numel(), 10_000):
                raise _bad(name, f"sampler state {key} is larger than the latents")
    return BranchPoint(
        step=meta["step"], total=meta["total"], latents=latents,
        scheduler_state=MappingProxyType(state), generator_states=generators,
        timesteps=timesteps, offset=meta["offset"], schedule_steps=meta["schedule_steps"],
        sampler=meta["sampler"], steps=meta["steps"], width=meta["width"],
        height=meta["height"], seed=meta["seed"], model_name=meta["model_name"],
        model_hash=meta["model_hash"], prompt=meta["prompt"],
    )  # fmt: skip


def _take(entry: dict, tensors: dict[str, Any]) -> Any:
    ((kind, value),) = entry.items()
    if kind == "tensor":
        return tensors[value]
    if kind == "ndarray":
        return tensors[value].numpy().copy()
    if kind == "list":
        return [_take(item, tensors) for item in value]
    return value


def _flat_tensors(value: Any) -> list[Any]:
    if hasattr(value, "numel"):
        return [value]
    if isinstance(value, list):
        return [t for item in value for t in _flat_tensors(item)]
    return []
