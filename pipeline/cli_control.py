"""CLI options for ControlNet: `--controlnet MODEL --control IMAGE[:STRENGTH[:START:END]]`.

Both are repeatable and pair up in order: the k-th `--control` uses the k-th `--controlnet`
(one `--controlnet` serves every `--control`). `--control-type` (repeatable the same way)
preprocesses each image on the fly: canny, scribble, softedge, … ("none": the image already is a
control image).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .control import MAX_CONTROLS, MODULES, ControlUnit
from .errors import RequestError
from .imagefiles import read_image


def add_control_arguments(gen: argparse.ArgumentParser) -> None:
    group = gen.add_argument_group("ControlNet (steer composition with a control image)")
    group.add_argument(
        "--controlnet", action="append", default=None, metavar="MODEL",
        help="ControlNet folder, .safetensors file or Hub id (repeatable, in --control order)",
    )  # fmt: skip
    group.add_argument(
        "--control", type=_control_arg, action="append", default=None,
        metavar="IMAGE[:STRENGTH[:START:END]]",
        help="control image; strength 0-2 (1), start/end fractions of the steps (0:1)",
    )  # fmt: skip
    group.add_argument(
        "--control-type", action="append", default=None, choices=MODULES,
        help="preprocess the control image first (none: it already is one; repeatable)",
    )  # fmt: skip


def _control_arg(text: str) -> tuple[str, tuple[float, ...]]:
    """IMAGE, IMAGE:S or IMAGE:S:START:END; the path may itself hold colons (C:\\a.png)."""
    parts = text.split(":")
    for count in (3, 1):  # the longest numeric tail that parses wins
        if len(parts) > count:
            try:
                numbers = tuple(float(p) for p in parts[-count:])
            except ValueError:
                continue
            return ":".join(parts[:-count]), numbers
    return text, ()


def control_fields(args: argparse.Namespace) -> dict[str, Any]:
    """{"controls": units} when --control was given (else nothing: the request's default)."""
    controls = getattr(args, "control", None)
    models = getattr(args, "controlnet", None) or []
    types = getattr(args, "control_type", None) or []
    if not controls:
        if models or types:
            raise RequestError("--controlnet and --control-type need a --control IMAGE.")
        return {}
    if len(controls) > MAX_CONTROLS:
        raise RequestError(f"At most {MAX_CONTROLS} --control images (got {len(controls)}).")
    if not models:
        raise RequestError("--control needs a --controlnet MODEL (folder, file or Hub id).")
    for name, given in (("--controlnet", models), ("--control-type", types)):
        if len(given) not in (0, 1, len(controls)):
            raise RequestError(
                f"Give one {name} for all --control images or one per image "
                f"({len(controls)}); got {len(given)}."
            )
    units = []
    for k, (path, numbers) in enumerate(controls):
        strength, start, end = _numbers(numbers)
        units.append(
            ControlUnit(
                image=read_image(Path(path), "RGB"),
                model=models[k] if len(models) > 1 else models[0],
                module=(types[k] if len(types) > 1 else types[0]) if types else "none",
                strength=strength,
                start=start,
                end=end,
            )
        )
    return {"controls": tuple(units)}


def _numbers(numbers: tuple[float, ...]) -> tuple[float, float, float]:
    if len(numbers) == 3:
        return numbers[0], numbers[1], numbers[2]
    return (numbers[0] if numbers else 1.0), 0.0, 1.0
