"""A scheduler's state between steps, found and copied generically, to the bit.

Which attributes a diffusers scheduler changes while it steps differs per sampler (multistep
solvers' earlier model outputs, Heun's half-step sample, PNDM's `ets`, the step index …). They
are not listed by hand: the state is every instance attribute that differs, bit for bit, from a
fresh scheduler set up for the same schedule. Restoring it checks each value against what the
scheduler has (a file's state is untrusted): no methods, no new kinds, no other shapes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from .errors import RequestError

_NOT_STATE = frozenset({"_internal_dict"})  # the config: equal by construction


class BranchingUnsupported(RequestError):
    """This run cannot be continued exactly (sampler state, mode); the message says why."""


def state_of(scheduler: Any, baseline: Any, sampler: str) -> dict[str, Any]:
    """The scheduler's attributes that differ from `baseline` (fresh, same schedule), copied."""
    fresh = vars(baseline)
    state = {}
    for name, value in vars(scheduler).items():
        if name in _NOT_STATE or _is_function(value):
            continue  # e.g. the engine's preview wrapper of `step`
        if name in fresh and same_bits(value, fresh[name]):
            continue
        try:
            state[name] = copy_state(value)
        except TypeError as exc:
            raise BranchingUnsupported(
                f"The sampler {sampler} cannot be branched: its state '{name}' is {exc}, which "
                "cannot be copied exactly."
            ) from None
    return state


def check_state(
    real: Any, state: Mapping[str, Any], sampler: str, latent_shape: tuple[int, ...]
) -> None:
    """The recorded state fits this scheduler: attributes of the kind and shape it has after
    `set_timesteps`, or latent-shaped tensors and numbers a step adds; never a method or a
    property of its class (a file's state is untrusted)."""
    fresh = vars(real)
    for name, value in state.items():
        current = fresh.get(name)  # None too for state a step creates (Heun's `sample`)
        shadows = name not in fresh and hasattr(type(real), name)  # a method or property
        if name in _NOT_STATE or name.startswith("__") or shadows or _is_function(current):
            raise RequestError(
                f"branch: the recorded state of the sampler {sampler} names '{name}', "
                "which this sampler does not have; the latents cannot be continued."
            )
        if not _fits(value, current, latent_shape):
            raise RequestError(
                f"branch: the recorded sampler state '{name}' does not fit the sampler "
                f"{sampler} (kind or shape); the latents cannot be continued."
            )


def _fits(value: Any, current: Any, latent_shape: tuple[int, ...]) -> bool:
    if hasattr(current, "shape") and not isinstance(current, np.ndarray):
        return (
            hasattr(value, "shape")
            and value.shape == current.shape
            and (value.dtype == current.dtype)
        )
    if isinstance(current, np.ndarray):
        return isinstance(value, np.ndarray) and value.dtype == current.dtype
    if isinstance(current, (list, tuple)):
        return isinstance(value, (list, tuple)) and all(
            _fits(item, None, latent_shape) for item in value
        )
    if hasattr(value, "shape"):  # a tensor where the fresh scheduler has None (or a number)
        shape = tuple(value.shape)  # a latent-sized sample/output, or one number (a timestep)
        return shape == () or (shape == latent_shape and value.is_floating_point())
    return value is None or isinstance(value, (bool, int, float))


def _is_function(value: Any) -> bool:
    return callable(value) and not hasattr(value, "shape")


def copy_state(value: Any, device: Any = None) -> Any:
    """A copy that shares no storage (a branch must not change the recording)."""
    if hasattr(value, "detach"):
        copied = value.detach().clone()
        return copied if device is None or copied.device == device else copied.to(device)
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, list):
        return [copy_state(item, device) for item in value]
    if isinstance(value, tuple):
        return tuple(copy_state(item, device) for item in value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"a {type(value).__name__}")


def same_bits(a: Any, b: Any) -> bool:
    """Equal to the bit (-0.0 and 0.0 differ; so does NaN from itself, which only means the
    value is kept)."""
    if hasattr(a, "detach") and hasattr(b, "detach"):
        if a.dtype != b.dtype or a.shape != b.shape or a.device != b.device:
            return False
        return bool((_bits(a) == _bits(b)).all())
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    if isinstance(a, (list, tuple)) and type(a) is type(b):
        return len(a) == len(b) and all(same_bits(x, y) for x, y in zip(a, b, strict=True))
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    return a is b or (isinstance(a, (bool, int, str)) and a == b)


def _bits(tensor: Any) -> Any:
    """The tensor's bytes as a uint8 tensor (any dtype, bfloat16 included)."""
    import torch

    return tensor.detach().contiguous().reshape(-1).view(torch.uint8)


def tensors_in(value: Any) -> list[Any]:
    if hasattr(value, "numel"):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in tensors_in(item)]
    return []
