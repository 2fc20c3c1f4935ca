"""`python -m pipeline` / `brushwork-cli`: generate, read parameters back, list samplers.

Bad input exits with status 2 and one line on stderr; a traceback means a bug in Brushwork.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from .downloads import DownloadProgress
from .errors import BrushworkError, Cancelled, ImageInputError, ModelError
from .metadata import INFO_KEYS, read_image_info
from .models import SourceKind, parse_model_source
from .outputs import default_output_dir
from .request import GenerationRequest, Mode
from .samplers import DEFAULT_SAMPLER, SAMPLERS

EXIT_BAD_INPUT = 2
EXIT_CANCELLED = 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, like every other bad-input message
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="brushwork-cli", description="Brushwork's headless image generator.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    gen = commands.add_parser("generate", help="generate images and write them as PNG")
    gen.add_argument("--prompt", required=True)
    gen.add_argument("--negative", default="")
    gen.add_argument("--model", default=None, help="folder, .safetensors file or Hub id")
    gen.add_argument("--sampler", default=DEFAULT_SAMPLER)
    gen.add_argument("--steps", type=int, default=20)
    gen.add_argument("--cfg", type=float, default=7.0)
    gen.add_argument("--seed", type=int, default=-1, help="-1 picks a random seed")
    gen.add_argument("--width", type=int, default=None, help="default: init image or 512")
    gen.add_argument("--height", type=int, default=None)
    gen.add_argument("--batch", type=int, default=1)
    gen.add_argument("--init", type=Path, default=None, help="init image (img2img)")
    gen.add_argument("--strength", type=float, default=0.75)
    gen.add_argument("--mask", type=Path, default=None, help="white = regenerate (inpaint)")
    gen.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    gen.add_argument("--precision", default="auto", choices=("auto", "fp16", "bf16", "fp32"))
    gen.add_argument("--out", type=Path, default=None, help=f"folder ({default_output_dir()})")
    gen.add_argument("--quiet", action="store_true", help="no progress on stderr")

    info = commands.add_parser("info", help="print the generation parameters stored in an image")
    info.add_argument("image", type=Path)
    info.add_argument("--json", action="store_true")

    commands.add_parser("samplers", help="list sampler ids and display names")

    download = commands.add_parser("download", help="download a Hub model into the HF cache")
    download.add_argument("repo_id")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        commands = {"generate": _generate, "info": _info, "samplers": _samplers}
        commands["download"] = _download
        return commands[args.command](args)
    except Cancelled:
        print("cancelled", file=sys.stderr)
        return EXIT_CANCELLED
    except BrushworkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _download(args: argparse.Namespace) -> int:
    source = parse_model_source(args.repo_id)
    if source.kind is not SourceKind.HUB:
        raise ModelError(f"{args.repo_id!r} is a local model; there is nothing to download.")
    from .downloads import download_model, format_progress

    def progress(update: DownloadProgress) -> None:
        print(f"\r{format_progress(update):60}", end="", file=sys.stderr, flush=True)

    folder = download_model(source.location, progress, threading.Event())
    print(file=sys.stderr)
    print(folder)
    return 0


def _samplers(_args: argparse.Namespace) -> int:
    for sampler in SAMPLERS:
        print(f"{sampler.id:22} {sampler.name}")
    return 0


def _info(args: argparse.Namespace) -> int:
    info = read_image_info(args.image)
    if args.json:
        print(json.dumps(info, ensure_ascii=False, indent=2))
    else:
        for key in (*INFO_KEYS, *(k for k in info if k not in INFO_KEYS)):
            if info.get(key) not in (None, ""):
                print(f"{key}: {info[key]}")
    return 0


def _generate(args: argparse.Namespace) -> int:
    request = _request_from_args(args)
    parse_model_source(request.model)  # a bad model path fails before torch is imported
    from .engine import Engine, StepUpdate

    shown: list[int] = []

    def progress(update: StepUpdate) -> None:
        if not args.quiet:
            print(f"\rstep {update.step}/{update.total}", end="", file=sys.stderr, flush=True)
            shown.append(update.step)

    engine = Engine(args.out or default_output_dir(), args.device, args.precision)
    try:
        results = engine.run(request, on_step=progress, cancel=threading.Event())
    finally:
        if shown:
            print(file=sys.stderr)
    for result in results:
        print(f"{result.path}\tseed={result.seed}")
    return 0


def _request_from_args(args: argparse.Namespace) -> GenerationRequest:
    init = _read_image(args.init, "RGB") if args.init else None
    mask = _read_image(args.mask, "L") if args.mask else None
    if mask is not None and init is None:
        raise ImageInputError("--mask needs --init (the image to inpaint).")
    mode = Mode.INPAINT if mask is not None else Mode.IMG2IMG if init is not None else Mode.TXT2IMG
    height, width = init.shape[:2] if init is not None else (512, 512)
    return GenerationRequest(
        prompt=args.prompt,
        negative_prompt=args.negative,
        mode=mode,
        sampler=args.sampler,
        steps=args.steps,
        guidance=args.cfg,
        seed=args.seed,
        width=width if args.width is None else args.width,
        height=height if args.height is None else args.height,
        batch_size=args.batch,
        strength=args.strength,
        init_image=init,
        mask=mask,
        model=args.model,
    )


def _read_image(path: Path, mode: str) -> np.ndarray[Any, Any]:
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert(mode))
    except FileNotFoundError:
        raise ImageInputError(f"Image not found: {path}") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ImageInputError(f"Could not read image {path}: {exc}") from None
