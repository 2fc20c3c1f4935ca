"""`brushwork-cli upscale IMAGE [--model UPSCALER] --scale 2|4 [--refine --prompt … --strength S]
[--out FOLDER|FILE]`.

Kept apart from cli.py so the upscale command can grow (tiled refine) without touching the
generate command. The PNG keeps the source's generation parameters and adds A1111's
`postprocessing` line naming the upscaler and factor.
"""

from __future__ import annotations

import argparse
import json
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from . import fields
from .errors import ImageInputError, RequestError
from .imagefiles import open_image, read_image
from .metadata_formats import MAX_TEXT
from .models import parse_model_source
from .outputs import save_png_as, write_png
from .request import GenerationRequest

_KEPT_CHUNKS = ("parameters", "brushwork")  # the source's generation parameters


def add_upscale_parser(commands: argparse._SubParsersAction) -> None:
    up = commands.add_parser("upscale", help="make an image 2 or 4 times larger")
    up.add_argument("image", type=Path)
    up.add_argument(
        "--model",
        default=None,
        help="upscaler file or name, or a diffusers SD ×4 / latent ×2 upscaler (folder or Hub "
        "id, guided by --prompt); default: the bundled one",
    )
    up.add_argument("--scale", type=int, required=True, choices=(2, 4))
    up.add_argument(
        "--out",
        type=Path,
        default=None,
        help="a folder (the output folder if not given), or NAME.png",
    )
    up.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda", "mps"))
    up.add_argument("--quiet", action="store_true", help="nothing on stderr but errors")
    up.add_argument(
        "--verbose", action="store_true", help="show the libraries' own warnings on stderr"
    )
    up.add_argument(
        "--allow-pickle", action="store_true", help="load .pth upscalers (weights only)"
    )
    refine = up.add_argument_group("tiled refine: re-diffuse the result in native-size tiles")
    refine.add_argument("--refine", action="store_true")
    refine.add_argument(
        "--prompt",
        default=None,
        help="what the picture shows (with --refine, or a diffusers upscaler as --model)",
    )
    refine.add_argument("--negative", default="")
    refine.add_argument("--strength", type=float, default=0.35, help="img2img strength (0.35)")
    refine.add_argument("--steps", type=int, default=fields.default("steps"))
    refine.add_argument("--cfg", type=float, default=None, help="default: the model's own")
    refine.add_argument("--seed", type=int, default=-1, help="-1 picks a random seed")
    refine.add_argument(
        "--diffusion-model", default=None, help="model that refines (default: the bundled one)"
    )
    refine.add_argument(
        "--overlap", type=int, default=None, help="px between tiles (a quarter of a tile)"
    )


def run_upscale(args: argparse.Namespace) -> int:
    from .cli import _library_messages, _output_target, _stderr
    from .diffusion_upscalers import find_diffusion_upscaler
    from .models import choose_device
    from .upscale import check_output_size, load_upscaler, resolve_upscaler, user_upscalers_dir

    image = read_image(args.image, "RGB")
    height, width = image.shape[:2]
    check_output_size(width, height, args.scale)  # before the model loads
    folder, file = _output_target(args.out)  # a bad --out, too
    diffusion = find_diffusion_upscaler(args.model, user_upscalers_dir())
    refine = _refine_request(args, diffusion is not None)  # and the refine's errors
    with _library_messages(args):

        def progress(done: int, total: int) -> None:
            _stderr.progress(f"tile {done}/{total}")

        if diffusion is not None:
            result, name = _diffusion_upscale(image, diffusion, args)
        else:
            upscaler = load_upscaler(
                resolve_upscaler(args.model), args.allow_pickle, choose_device(args.device)
            )
            result = upscaler.upscale(image, args.scale, progress, threading.Event())
            name = upscaler.name
        notes = []
        if refine is not None:
            _stderr.end_line()
            result, note = _refine(result, refine, args, folder, progress)
            notes.append(note)
    _stderr.end_line()
    print(_write(result, args, name, notes, folder, file))
    return 0


def _diffusion_upscale(
    image: np.ndarray, where: str, args: argparse.Namespace
) -> tuple[np.ndarray, str]:
    """A diffusers SD ×4 or latent ×2 upscaler: sizes refused before loading where the kind is
    known without it; a Hub id is downloaded first (byte progress)."""
    from .cli import _stderr
    from .diffusion_upscalers import check_input_size, known_scale, load_diffusion_upscaler
    from .models import choose_device

    height, width = image.shape[:2]
    scale = known_scale(where)
    if scale is not None:
        check_input_size(width, height, args.scale, scale)
    cancel = threading.Event()
    upscaler = load_diffusion_upscaler(
        where,
        choose_device(args.device),
        lambda done, total: _stderr.progress(f"download {done >> 20}/{total >> 20} MB"),
        cancel,
    )
    seed = args.seed if args.seed >= 0 else int(np.random.default_rng().integers(2**31))
    result = upscaler.upscale(
        image,
        args.scale,
        args.prompt or "",
        lambda done, total: _stderr.progress(f"step {done}/{total}"),
        cancel,
        args.steps,
        seed,
    )
    return result, upscaler.name


def _refine_request(
    args: argparse.Namespace, prompt_used: bool = False
) -> GenerationRequest | None:
    if not args.refine:
        if args.prompt is not None and not prompt_used:
            raise RequestError("--prompt is for --refine; add --refine to re-diffuse the result.")
        return None
    if not args.prompt:
        raise RequestError("--refine needs --prompt (what the picture shows).")
    if not 0 < args.strength <= 1:  # 0 would refine nothing; checked before the upscale runs
        raise RequestError(f"--strength must be above 0 and at most 1 (got {args.strength:g}).")
    parse_model_source(args.diffusion_model)  # a bad model fails before the upscale runs
    return GenerationRequest(
        prompt=args.prompt,
        negative_prompt=args.negative,
        steps=args.steps,
        guidance=args.cfg,
        strength=args.strength,
        seed=args.seed,
        model=args.diffusion_model,
    ).with_resolved_seed()


def _refine(
    image: np.ndarray,
    request: GenerationRequest,
    args: argparse.Namespace,
    folder: Path,
    progress: Callable[[int, int], None],
) -> tuple[np.ndarray, str]:
    """Re-diffuses the upscaled image in tiles of the diffusion model's native size."""
    from .engine import Engine
    from .tiled_refine import refine_tiled

    engine = Engine(folder, args.device, previews=False)
    tile = engine.load(request.model).native_size or 512
    request = request.replace(width=tile, height=tile).resolved(engine.model.defaults)
    overlap = tile // 4 if args.overlap is None else args.overlap
    result = refine_tiled(engine, image, request, overlap, progress, threading.Event())
    note = (
        f"Tiled refine: {json.dumps(request.prompt, ensure_ascii=False)}, strength "
        f"{request.strength:g}, steps {request.steps}, seed {request.seed}, tile {tile}, "
        f"overlap {overlap}, model {engine.model.source.name}"
    )
    return result, note


def _write(
    result: np.ndarray,
    args: argparse.Namespace,
    upscaler: str,
    notes: list[str],
    folder: Path,
    file: Path | None,
) -> Path:
    chunks = _source_chunks(args.image)
    chunks["postprocessing"] = "\n".join(
        [f"Postprocess upscale by: {args.scale}, Postprocess upscaler: {upscaler}", *notes]
    )
    if file is not None:
        return save_png_as(result, file, chunks)
    return write_png(result, folder, f"{args.image.stem}-x{args.scale}", chunks)


def _source_chunks(path: Path) -> dict[str, str]:
    """The source PNG's parameter chunks, so the upscaled image still says how it was made."""
    try:
        with open_image(path) as image:  # the format allow-list (already read once)
            text = getattr(image, "text", {}) or {}
    except (ImageInputError, OSError, ValueError):
        return {}
    return {
        key: value
        for key, value in text.items()
        if key in _KEPT_CHUNKS and isinstance(value, str) and len(value) <= MAX_TEXT
    }
