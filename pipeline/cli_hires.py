"""The hires-fix options of `brushwork-cli generate` (the fields: fields.py)."""

from __future__ import annotations

import argparse
from typing import Any

from . import fields


def add_hires_arguments(gen: argparse.ArgumentParser) -> None:
    hires = gen.add_argument_group("hires fix (txt2img): generate, upscale, then img2img")
    hires.add_argument("--hires-scale", type=float, default=None, help="e.g. 2; off unless given")
    hires.add_argument(
        "--hires-strength",
        type=float,
        default=None,
        help=f"img2img strength of the second pass ({fields.default('hires_strength'):g})",
    )
    hires.add_argument("--hires-steps", type=int, default=None, help="default: --steps")
    hires.add_argument(
        "--hires-upscaler",
        default=None,
        help="latent, lanczos (default) or an upscale model file or name",
    )


def hires_fields(args: argparse.Namespace) -> dict[str, Any]:
    """Only the options given, so the request's defaults (and its errors) apply to the rest."""
    given = {name: getattr(args, name, None) for name in fields.HIRES_NAMES}
    return {name: value for name, value in given.items() if value is not None}
