"""`brushwork-cli upscale IMAGE [--model UPSCALER] --scale 2|4 [--out FOLDER|FILE]`.

Kept apart from cli.py so the upscale command can grow (tiled refine) without touching the
generate command. The PNG keeps the source's generation parameters and adds A1111's
`postprocessing` line naming the upscaler and factor.
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

import numpy as np
from PIL import Image

from .imagefiles import read_image
from .metadata_formats import MAX_TEXT
from .outputs import default_output_dir, save_png_as, write_png

_KEPT_CHUNKS = ("parameters", "brushwork")  # the source's generation parameters


def add_upscale_parser(commands: argparse._SubParsersAction) -> None:
    up = commands.add_parser("upscale", help="make an image 2 or 4 times larger")
    up.add_argument("image", type=Path)
    up.add_argument(
        "--model", default=None, help="upscaler file or name (default: the bundled one)"
    )
    up.add_argument("--scale", type=int, required=True, choices=(2, 4))
    up.add_argument("--out", type=Path, default=None, help="folder, or a .png file to write")
    up.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda", "mps"))
    up.add_argument("--quiet", action="store_true", help="no progress on stderr")
    up.add_argument(
        "--allow-pickle", action="store_true", help="load .pth upscalers (weights only)"
    )


def run_upscale(args: argparse.Namespace) -> int:
    from .models import choose_device
    from .upscale import check_output_size, load_upscaler, resolve_upscaler

    image = read_image(args.image, "RGB")
    height, width = image.shape[:2]
    check_output_size(width, height, args.scale)  # before the model loads
    upscaler = load_upscaler(
        resolve_upscaler(args.model), args.allow_pickle, choose_device(args.device)
    )

    def progress(done: int, total: int) -> None:
        if not args.quiet:
            print(f"\rtile {done}/{total}", end="", file=sys.stderr, flush=True)

    try:
        result = upscaler.upscale(image, args.scale, progress, threading.Event())
    finally:
        if not args.quiet:
            print(file=sys.stderr)
    print(_write(result, args, upscaler.name))
    return 0


def _write(result: np.ndarray, args: argparse.Namespace, upscaler: str) -> Path:
    chunks = _source_chunks(args.image)
    chunks["postprocessing"] = (
        f"Postprocess upscale by: {args.scale}, Postprocess upscaler: {upscaler}"
    )
    out: Path | None = args.out
    if out is not None and out.suffix.lower() == ".png":
        return save_png_as(result, out, chunks)
    return write_png(
        result, out or default_output_dir(), f"{args.image.stem}-x{args.scale}", chunks
    )


def _source_chunks(path: Path) -> dict[str, str]:
    """The source PNG's parameter chunks, so the upscaled image still says how it was made."""
    try:
        with Image.open(path) as image:
            text = getattr(image, "text", {}) or {}
    except (OSError, ValueError):
        return {}
    return {
        key: value
        for key, value in text.items()
        if key in _KEPT_CHUNKS and isinstance(value, str) and len(value) <= MAX_TEXT
    }
