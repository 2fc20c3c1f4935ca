"""`python -m pipeline` / `brushwork-cli`: generate, read parameters back, list samplers, inspect.

Bad input exits with status 2 and one line on stderr; a traceback means a bug in Brushwork.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np

from .downloads import DownloadProgress
from .errors import (
    BrushworkError,
    Cancelled,
    ImageInputError,
    ImageNotSavedError,
    ModelError,
    RequestError,
)
from .extra_fields import (
    CLIP_SKIP,
    EMBEDDING_DIR,
    EMBEDDINGS,
    LORA_DIR,
    LORAS,
    PROMPT_STYLE,
    PROMPT_STYLES,
    VAE,
)
from .imagefiles import read_image
from .metadata import INFO_KEYS, read_image_info
from .models import SourceKind, describe_source, parse_model_source
from .outpaint import outpaint_request
from .outputs import default_output_dir
from .request import GenerationRequest, InpaintArea, Mode
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
    gen.add_argument(
        "--width",
        type=int,
        default=None,
        help="default: the init image's, else the model's native size (512 for SD 1.x, "
        "1024 for SDXL, 64 for the bundled model)",
    )
    gen.add_argument("--height", type=int, default=None)
    gen.add_argument("--batch", type=int, default=1)
    gen.add_argument("--init", type=Path, default=None, help="init image (img2img)")
    gen.add_argument("--strength", type=float, default=None, help="0.75; 1 for --outpaint")
    gen.add_argument("--mask", type=Path, default=None, help="white = regenerate (inpaint)")
    _add_inpaint_arguments(gen)
    add_extras_arguments(gen)
    gen.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    gen.add_argument("--precision", default="auto", choices=("auto", "fp16", "bf16", "fp32"))
    gen.add_argument("--out", type=Path, default=None, help=f"folder ({default_output_dir()})")
    gen.add_argument("--quiet", action="store_true", help="no progress on stderr")
    gen.add_argument(
        "--memory",
        default="auto",
        choices=("auto", "off"),
        help="VAE tiling / attention slicing / CPU offload when needed (auto)",
    )
    gen.add_argument(
        "--allow-pickle",
        action="store_true",
        help="load .ckpt/.pt checkpoints (weights only; pickle files can carry code)",
    )

    info = commands.add_parser("info", help="print the generation parameters stored in an image")
    info.add_argument("image", type=Path)
    info.add_argument("--json", action="store_true")

    commands.add_parser("samplers", help="list sampler ids and display names")

    inspect = commands.add_parser("inspect", help="say what kind of model a file or folder is")
    inspect.add_argument("model", help="folder, .safetensors file or Hub id")
    inspect.add_argument("--allow-pickle", action="store_true", help="admit .ckpt/.pt files")

    download = commands.add_parser("download", help="download a Hub model into the HF cache")
    download.add_argument("repo_id")
    return parser


def _add_inpaint_arguments(gen: argparse.ArgumentParser) -> None:
    inpaint = gen.add_argument_group("inpaint and outpaint (with --mask or --outpaint)")
    inpaint.add_argument("--mask-blur", type=int, default=None, help="px of soft edge (4)")
    inpaint.add_argument("--mask-grow", type=int, default=None, help="px; negative shrinks (0)")
    inpaint.add_argument(
        "--only-masked",
        action="store_true",
        help="generate only a crop around the mask, at --width×--height (default: the model's "
        "native size; 512×512 with --outpaint)",
    )
    inpaint.add_argument("--padding", type=int, default=None, help="px around the crop (32)")
    inpaint.add_argument(
        "--no-color-correction", action="store_true", help="skip the seam colour repair"
    )
    inpaint.add_argument(
        "--outpaint",
        type=_sides,
        default=None,
        metavar="L,T,R,B",
        help="extend --init by these pixels and fill the new area",
    )


def _sides(text: str) -> tuple[int, int, int, int]:
    parts = text.split(",")
    try:
        values = tuple(int(part) for part in parts)
    except ValueError:
        values = ()
    if len(values) != 4 or min(values) < 0:
        raise argparse.ArgumentTypeError(
            f"expected four pixel counts 0 or more as L,T,R,B, e.g. 0,0,64,0 (got {text!r})"
        )
    return values  # type: ignore[return-value]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        commands = {"generate": _generate, "info": _info, "samplers": _samplers}
        commands.update(download=_download, inspect=_inspect)
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


def _inspect(args: argparse.Namespace) -> int:
    source = parse_model_source(args.model, allow_pickle=args.allow_pickle)
    generic = {SourceKind.FOLDER: "diffusers folder", SourceKind.HUB: "Hugging Face Hub model"}
    print(f"{source.name}\t{describe_source(source) or generic[source.kind]}")
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
    parse_model_source(request.model, allow_pickle=args.allow_pickle)  # fails before torch loads
    from .engine import Engine, StepUpdate

    shown: list[int] = []

    def progress(update: StepUpdate) -> None:
        if not args.quiet:
            print(f"\rstep {update.step}/{update.total}", end="", file=sys.stderr, flush=True)
            shown.append(update.step)

    engine = Engine(
        args.out or default_output_dir(), args.device, args.precision,
        memory_savings=args.memory, previews=False, allow_pickle=args.allow_pickle,
    )  # fmt: skip
    loaded = engine.load(request.model)
    if loaded.kind and not args.quiet:
        print(f"model: {loaded.source.name} ({loaded.kind})", file=sys.stderr)
    request = _at_native_size(request, args, loaded.native_size)
    try:
        results = engine.run(request, on_step=progress, cancel=threading.Event())
    except ImageNotSavedError as exc:
        return _report_unsaved(exc)
    finally:
        if shown:
            print(file=sys.stderr)
    plan = engine.last_memory_plan
    if plan is not None and plan.savings and not args.quiet:
        print(plan.describe(), file=sys.stderr)
    for note in dict.fromkeys(note for result in results for note in result.notes):
        print(note, file=sys.stderr)  # what the engine did on its own (OOM retry, NaN, …)
    for result in results:
        print(f"{result.path}\tseed={result.seed}")
    return 0


def _report_unsaved(error: ImageNotSavedError) -> int:
    """The output folder refused the images: list every file that exists on stdout as usual
    (the engine wrote the refused ones to a temp folder) and still fail (exit 2)."""
    kept = error.unsaved if error.fallback else []
    for result in [*error.saved, *kept]:
        print(f"{result.path}\tseed={result.seed}")
    where = f"were written to {error.fallback} instead" if error.fallback else "are lost"
    print(f"error: {error} The images {where}.", file=sys.stderr)
    return EXIT_BAD_INPUT


def _request_from_args(args: argparse.Namespace) -> GenerationRequest:
    init = read_image(args.init, "RGB") if args.init else None
    mask = read_image(args.mask, "L") if args.mask else None
    if mask is not None and init is None:
        raise ImageInputError("--mask needs --init (the image to inpaint).")
    fields = _common_fields(args)
    if args.outpaint is not None:
        return _outpaint_request(args, init, mask, fields)
    if mask is None and _inpaint_fields(args):
        raise RequestError("Inpaint options need --mask (or --outpaint) and --init.")
    mode = Mode.INPAINT if mask is not None else Mode.IMG2IMG if init is not None else Mode.TXT2IMG
    # "Only masked" scales a crop up to the generation size, not the image's own size; without
    # an image (or with that option) the size is the model's own, set once it is loaded.
    height, width = init.shape[:2] if init is not None and not args.only_masked else (512, 512)
    return GenerationRequest(
        **fields,
        **_inpaint_fields(args),
        mode=mode,
        width=width if args.width is None else args.width,
        height=height if args.height is None else args.height,
        strength=0.75 if args.strength is None else args.strength,
        init_image=init,
        mask=mask,
    )


def _at_native_size(
    request: GenerationRequest, args: argparse.Namespace, native: int | None
) -> GenerationRequest:
    """A size not given on the command line is the model's own, where the image's size does
    not set it (txt2img, and the crop of an "only masked" inpaint). Outpainting keeps its
    own rule (the extended canvas, or 512×512 for an "only masked" crop): its size note is
    printed before the model loads."""
    sized_by_image = args.init is not None and not args.only_masked
    if native is None or sized_by_image or args.outpaint is not None:
        return request
    missing = {k: native for k in ("width", "height") if getattr(args, k) is None}
    return dataclasses.replace(request, **missing) if missing else request


def _common_fields(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "prompt": args.prompt,
        "negative_prompt": args.negative,
        "sampler": args.sampler,
        "steps": args.steps,
        "guidance": args.cfg,
        "seed": args.seed,
        "batch_size": args.batch,
        "model": args.model,
        **extras_fields(args),
    }


# --- Prompt syntax / extras (extra_fields.py) -------------------------------------------------
def add_extras_arguments(gen: argparse.ArgumentParser) -> None:
    extras = gen.add_argument_group("prompt syntax and LoRAs")
    extras.add_argument(
        "--prompt-style", choices=PROMPT_STYLES, default=None, help=PROMPT_STYLE.help + " (a1111)"
    )
    extras.add_argument(
        "--lora", type=_lora_arg, action="append", default=None, metavar="PATH[:WEIGHT]",
        help=LORAS.help + " (weight 1; repeatable); <lora:NAME:W> in the prompt works too",
    )  # fmt: skip
    extras.add_argument("--lora-dir", default=None, metavar="FOLDER", help=LORA_DIR.help)
    extras.add_argument(
        "--embedding", action="append", default=None, metavar="PATH", help=EMBEDDINGS.help
    )
    extras.add_argument("--embedding-dir", default=None, metavar="FOLDER", help=EMBEDDING_DIR.help)
    extras.add_argument("--clip-skip", type=int, default=None, help=CLIP_SKIP.help + " (1)")
    extras.add_argument("--vae", default=None, metavar="PATH", help=VAE.help)


def _lora_arg(text: str) -> tuple[str, float]:
    """PATH or PATH:WEIGHT (a path may hold colons, e.g. C:\\loras\\x.safetensors:0.5)."""
    path, sep, weight = text.rpartition(":")
    if sep and path and not weight.startswith(("\\", "/")):
        try:
            return path, float(weight)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected PATH[:WEIGHT] with a number as WEIGHT (got {text!r})"
            ) from None
    return text, 1.0


def extras_fields(args: argparse.Namespace) -> dict[str, Any]:
    """Only the options given, so the request's defaults apply to the rest."""
    given = {"prompt_style": args.prompt_style, "lora_dir": args.lora_dir}
    given["loras"] = tuple(args.lora) if args.lora else None
    given["embeddings"] = tuple(args.embedding) if args.embedding else None
    given["embedding_dir"] = args.embedding_dir
    given["clip_skip"] = args.clip_skip
    given["vae"] = args.vae
    return {key: value for key, value in given.items() if value is not None}


# ---------------------------------------------------------------------------------------------
def _inpaint_fields(args: argparse.Namespace) -> dict[str, Any]:
    """Only the options given, so the request's defaults apply to the rest."""
    given = {
        "mask_blur": args.mask_blur,
        "mask_grow": args.mask_grow,
        "inpaint_padding": args.padding,
        "inpaint_area": InpaintArea.ONLY_MASKED if args.only_masked else None,
        "color_correction": False if args.no_color_correction else None,
    }
    return {key: value for key, value in given.items() if value is not None}


def _outpaint_request(
    args: argparse.Namespace,
    init: np.ndarray | None,
    mask: np.ndarray | None,
    fields: dict[str, Any],
) -> GenerationRequest:
    if init is None:
        raise ImageInputError("--outpaint needs --init (the image to extend).")
    if mask is not None:
        raise ImageInputError("--outpaint makes its own mask; leave out --mask.")
    sizes = {k: getattr(args, k) for k in ("width", "height") if getattr(args, k) is not None}
    if args.only_masked:  # the crop is generated at 512×512 unless told
        sizes = {"width": 512, "height": 512, **sizes}
    strength = {} if args.strength is None else {"strength": args.strength}
    fields = {**fields, **_inpaint_fields(args), **sizes, **strength}
    prompt = fields.pop("prompt")
    job = outpaint_request(init, args.outpaint, prompt, **fields)
    if job.note:
        print(job.note, file=sys.stderr)
    return job.request
