"""`python -m pipeline` / `brushwork-cli`: generate, read parameters back, list samplers, inspect.

Bad input exits with status 2 and one line on stderr; a traceback means a bug in Brushwork.
stdout carries only results (one line per image); stderr the progress line and what the user
should know, which `--quiet` silences (but never an error). The libraries' own warnings go to
a log file (library_logs.py), or to stderr with `--verbose`.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np

from . import fields
from .canvas_size import generation_size, size_note
from .cli_branch import (
    add_branch_arguments,
    branch_fields,
    branch_point,
    recorder_for,
    save_recording,
)
from .cli_control import add_control_arguments, control_fields
from .cli_hires import add_hires_arguments, hires_fields
from .cli_upscale import add_upscale_parser, run_upscale
from .downloads import DownloadProgress
from .errors import (
    BrushworkError,
    Cancelled,
    ImageInputError,
    ImageNotSavedError,
    ModelError,
    OutputError,
    RequestError,
)
from .imagefiles import read_image
from .metadata import INFO_KEYS, read_image_info
from .models import SourceKind, describe_source, parse_model_source
from .outpaint import outpaint_request
from .outputs import default_output_dir
from .request import GenerationRequest, InpaintArea, Mode
from .results import GeneratedImage
from .samplers import DEFAULT_SAMPLER, SAMPLERS
from .terminal import printable, printable_json

EXIT_BAD_INPUT = 2
EXIT_CANCELLED = 130
# `--out NAME.png` names the file; other image suffixes are refused (the parameters live in
# PNG text chunks); any other path is a folder.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")


class _Stderr:
    """Everything the CLI says on stderr. The progress line is rewritten in place (\r); any
    other message ends it first, so an error never lands on the end of "step 2/2"."""

    def __init__(self) -> None:
        self.reset(quiet=False)

    def reset(self, quiet: bool) -> None:
        self.quiet = quiet
        self._line_open = False

    def progress(self, text: str) -> None:
        if not self.quiet:
            print(f"\r{text}", end="", file=sys.stderr, flush=True)
            self._line_open = True

    def say(self, text: str) -> None:
        """A note for the user (what was detected, what the engine did); --quiet drops it."""
        if not self.quiet:
            self.error(text)

    def error(self, text: str) -> None:
        self.end_line()
        print(text, file=sys.stderr, flush=True)

    def end_line(self) -> None:
        if self._line_open:
            print(file=sys.stderr, flush=True)
            self._line_open = False


_stderr = _Stderr()


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
    gen.add_argument(
        "--sampler", default=None, help=f"default: the model card's, else {DEFAULT_SAMPLER}"
    )
    gen.add_argument("--steps", type=int, default=None, help=f"{fields.default('steps')}")
    gen.add_argument("--cfg", type=float, default=None, help="default: the model card's, else 7")
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
    gen.add_argument(
        "--strength", type=float, default=None, help="0.75; 1 with --mask or --outpaint"
    )
    gen.add_argument("--mask", type=Path, default=None, help="white = regenerate (inpaint)")
    _add_inpaint_arguments(gen)
    add_hires_arguments(gen)
    add_branch_arguments(gen)
    _add_server_arguments(gen)
    _add_extras_arguments(gen)
    add_control_arguments(gen)
    gen.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    gen.add_argument("--precision", default="auto", choices=("auto", "fp16", "bf16", "fp32"))
    gen.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"a folder ({default_output_dir()}), or a file NAME.png (a batch writes "
        "NAME-1.png, NAME-2.png, …)",
    )
    gen.add_argument("--quiet", action="store_true", help="nothing on stderr but errors")
    gen.add_argument(
        "--verbose", action="store_true", help="show the libraries' own warnings on stderr"
    )
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
    gen.add_argument(
        "--openvino",
        action="store_true",
        help="run the UNet through OpenVINO on the CPU (pip install brushwork[openvino]; "
        "approximate: bf16 on AMX CPUs; converted once per model, then cached)",
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
    download.add_argument(
        "--verbose", action="store_true", help="show the libraries' own warnings on stderr"
    )
    _add_servers_command(commands)
    add_upscale_parser(commands)
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
    _stderr.reset(quiet=getattr(args, "quiet", False))
    try:
        commands = {"generate": _generate, "info": _info, "samplers": _samplers}
        commands.update(download=_download, inspect=_inspect, servers=_servers)
        commands.update(upscale=run_upscale)
        return commands[args.command](args)
    except (Cancelled, KeyboardInterrupt):
        _stderr.error("cancelled")
        return EXIT_CANCELLED
    except BrushworkError as exc:
        _stderr.error(f"error: {printable(str(exc))}")  # may quote a file's text
        return EXIT_BAD_INPUT
    finally:
        _stderr.end_line()


def _library_messages(args: argparse.Namespace) -> contextlib.AbstractContextManager:
    """The libraries' warnings go to the log file unless --verbose asks for them."""
    from .library_logs import library_messages_to_log

    return contextlib.nullcontext() if args.verbose else library_messages_to_log()


def _download(args: argparse.Namespace) -> int:
    source = parse_model_source(args.repo_id)
    if source.kind is not SourceKind.HUB:
        raise ModelError(f"{args.repo_id!r} is a local model; there is nothing to download.")
    from .downloads import download_model, format_progress

    def progress(update: DownloadProgress) -> None:
        _stderr.progress(f"{format_progress(update):60}")

    with _library_messages(args):
        folder = download_model(source.location, progress, threading.Event())
    _stderr.end_line()
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
        print(printable_json(info))
    else:  # values come from the file: no escape sequence reaches the terminal
        for key in (*INFO_KEYS, *(k for k in info if k not in INFO_KEYS)):
            if info.get(key) not in (None, ""):
                print(f"{printable(str(key))}: {printable(str(info[key]))}")
    return 0


def _generate(args: argparse.Namespace) -> int:
    folder, file = _output_target(args.out)
    if args.server:
        if args.save_latents or args.branch_from:
            raise RequestError("--save-latents and --branch-from apply to local runs only.")
        return _generate_remote(args, folder, file)
    point = branch_point(args)  # a bad latents file fails before the model loads
    request = _request_from_args(args)
    if point is not None:
        request = request.replace(**branch_fields(args, point))
    recorder = recorder_for(args, request)
    parse_model_source(request.model, allow_pickle=args.allow_pickle)  # fails before torch loads
    from .engine import Engine, StepUpdate
    from .speed import OPENVINO_WAIT, SpeedOptions, warm_openvino

    def progress(update: StepUpdate) -> None:
        _stderr.progress(f"step {update.step}/{update.total}")

    with _library_messages(args):
        engine = Engine(
            folder, args.device, args.precision,
            memory_savings=args.memory, previews=False, allow_pickle=args.allow_pickle,
            speed=SpeedOptions(openvino=args.openvino),
        )  # fmt: skip
        loaded = engine.load(request.model)
        if loaded.kind:
            _stderr.say(f"model: {loaded.source.name} ({loaded.kind})")
        if args.openvino:  # one image, then exit: the background warm-up would never pay off
            _stderr.say(OPENVINO_WAIT)
            for note in warm_openvino(loaded, engine.device):
                _stderr.say(note)
        scale_back = _init_image_size(args, request)
        try:
            results = engine.run(
                request, on_step=progress, cancel=threading.Event(), output_size=scale_back,
                recorder=recorder,
            )  # fmt: skip
        except ImageNotSavedError as exc:
            return _report_unsaved(exc)
    _stderr.end_line()
    plan = results[0].memory_plan if results else None
    if plan is not None and plan.savings:
        _stderr.say(plan.describe())
    for note in dict.fromkeys(note for result in results for note in result.notes):
        _stderr.say(note)  # what the engine did on its own (OOM retry, NaN, …)
    if file is not None:
        results = _name_as(results, file)
    for result in results:
        print(f"{result.path}\tseed={result.seed}")
    saved = save_recording(args, recorder)
    if saved:
        _stderr.say(saved)
    return 0


def _output_target(out: Path | None) -> tuple[Path, Path | None]:
    """(the folder the engine writes to, the file name asked for or None). `--out x.png` names
    the file; an existing folder keeps being a folder whatever its name."""
    if out is None:
        return default_output_dir(), None
    suffix = out.suffix.lower()
    if suffix not in IMAGE_SUFFIXES or out.is_dir():
        return out, None
    if suffix != ".png":
        raise RequestError(
            f"--out {out}: Brushwork writes PNG files (the parameters are stored in them); "
            "give a name ending in .png, or a folder."
        )
    return out.parent, out


def _name_as(results: list[GeneratedImage], file: Path) -> list[GeneratedImage]:
    """Renames the written images to `file` (one image) or `file`-1, -2, … (a batch),
    replacing what is there: the user named these files. A rename within one folder is
    atomic, so each name holds either its old content or the whole new image."""
    named = []
    for k, result in enumerate(results, start=1):
        target = file if len(results) == 1 else file.with_name(f"{file.stem}-{k}{file.suffix}")
        try:
            os.replace(result.path, target)
        except OSError as exc:
            for done in named:
                print(f"{done.path}\tseed={done.seed}")
            raise OutputError(
                f"Could not name the image {target}: {exc.strerror or exc}; it was written to "
                f"{result.path}."
            ) from exc
        named.append(dataclasses.replace(result, path=target))
    return named


def _report_unsaved(error: ImageNotSavedError) -> int:
    """The output folder refused the images: list every file that exists on stdout as usual
    (the engine wrote the refused ones to a temp folder) and still fail (exit 2)."""
    kept = error.unsaved if error.fallback else []
    for result in [*error.saved, *kept]:
        print(f"{result.path}\tseed={result.seed}")
    where = f"were written to {error.fallback} instead" if error.fallback else "are lost"
    _stderr.error(f"error: {error} The images {where}.")
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
    # an image (or with that option) None: the engine uses the model's own size. An image's
    # sides are generated at the nearest multiples of 8 (and scaled back, see below).
    height, width = init.shape[:2] if init is not None and not args.only_masked else (None, None)
    if width is not None:
        width, height = generation_size(width, height)
    return GenerationRequest(
        **fields,
        **_inpaint_fields(args),
        mode=mode,
        width=width if args.width is None else args.width,
        height=height if args.height is None else args.height,
        strength=args.strength,  # None: the mode's default
        init_image=init,
        mask=mask,
    )


def _sized_by_init(args: argparse.Namespace) -> bool:
    return args.init is not None and not args.only_masked and args.outpaint is None


def _init_image_size(
    args: argparse.Namespace, request: GenerationRequest
) -> tuple[int, int] | None:
    """The init image's (width, height) when it is generated at another size (its sides are
    not multiples of 8) and the result must be scaled back to it, as the app does with a
    canvas; says so on stderr. None when the size was given or already fits."""
    if not _sized_by_init(args) or request.init_image is None:
        return None
    height, width = request.init_image.shape[:2]
    if args.width is not None or args.height is not None:
        return None  # a size was asked for: the result has that size
    note = size_note((width, height), (request.width, request.height), "The init image")
    if note is None:
        return None
    _stderr.say(note)
    return width, height


def _common_fields(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "prompt": args.prompt,
        "negative_prompt": args.negative,
        "sampler": args.sampler,
        "steps": fields.default("steps") if args.steps is None else args.steps,
        "guidance": args.cfg,
        "seed": args.seed,
        "batch_size": args.batch,
        "model": args.model,
        **hires_fields(args),
        **_extras_fields(args),
        **control_fields(args),
    }


# --- Prompt syntax, LoRAs, embeddings, clip skip, VAE (fields.py) ---------------------------
def _help(name: str) -> str:
    return fields.BY_NAME[name].tooltip


def _add_extras_arguments(gen: argparse.ArgumentParser) -> None:
    extras = gen.add_argument_group("prompt syntax, LoRAs, embeddings, clip skip and VAE")
    extras.add_argument(
        "--prompt-style", choices=fields.PROMPT_STYLES, default=None,
        help=_help("prompt_style") + " (a1111)",
    )  # fmt: skip
    extras.add_argument(
        "--lora", type=_lora_arg, action="append", default=None, metavar="PATH[:WEIGHT]",
        help=_help("loras") + " (weight 1; repeatable); <lora:NAME:W> in the prompt works too",
    )  # fmt: skip
    extras.add_argument("--lora-dir", default=None, metavar="FOLDER", help=_help("lora_dir"))
    extras.add_argument(
        "--embedding", action="append", default=None, metavar="PATH", help=_help("embeddings")
    )
    extras.add_argument(
        "--embedding-dir", default=None, metavar="FOLDER", help=_help("embedding_dir")
    )
    extras.add_argument("--clip-skip", type=int, default=None, help=_help("clip_skip") + " (1)")
    extras.add_argument("--vae", default=None, metavar="PATH", help=_help("vae"))


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


def _extras_fields(args: argparse.Namespace) -> dict[str, Any]:
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
        _stderr.say(job.note)
    return job.request


# --- ComfyUI servers (pipeline/remote) ---------------------------------------------------------

_TOKEN_ENV = "BRUSHWORK_SERVER_TOKEN"


def _add_server_arguments(gen: argparse.ArgumentParser) -> None:
    remote = gen.add_argument_group("on ComfyUI servers")
    remote.add_argument(
        "--server",
        action="append",
        default=[],
        metavar="URL",
        help="generate on this ComfyUI server (repeatable: the shortest queue gets the job); "
        "--model then names a checkpoint on the server, e.g. dreamshaper_8.safetensors",
    )
    remote.add_argument(
        "--token", default=None, help=f"bearer token for the servers (or set {_TOKEN_ENV})"
    )


def _add_servers_command(commands: Any) -> None:
    servers = commands.add_parser("servers", help="show ComfyUI servers' status, device, models")
    servers.add_argument("urls", nargs="+", metavar="URL")
    servers.add_argument("--token", default=None, help=f"bearer token (or set {_TOKEN_ENV})")


def _remote_engine(urls: list[str], token: str | None, output_dir: Path) -> Any:
    from .remote import RemoteEngine

    return RemoteEngine(urls, output_dir, token=token or os.environ.get(_TOKEN_ENV) or None)


def _generate_remote(args: argparse.Namespace, folder: Path, file: Path | None) -> int:
    """`generate --server URL…`: the same request, output and exit codes as a local run; the
    server runs the model (ComfyUI), Brushwork writes the files."""
    if args.allow_pickle or args.device != "auto" or args.precision != "auto" or args.openvino:
        raise RequestError(
            "--device, --precision, --openvino and --allow-pickle apply to local runs only."
        )
    request = _request_from_args(args)
    if request.model is None:
        raise RequestError("With --server, --model names a checkpoint on the server (see "
                           "`brushwork-cli servers URL`).")  # fmt: skip
    engine = _remote_engine(args.server, args.token, folder)

    def progress(update: Any) -> None:
        _stderr.progress(f"step {update.step}/{update.total}")

    def where(url: str) -> None:
        if len(args.server) > 1:
            _stderr.say(f"server: {url}")

    engine.on_server = where
    try:
        results = engine.run(request, on_step=progress, cancel=threading.Event())
    except ImageNotSavedError as exc:
        return _report_unsaved(exc)
    _stderr.end_line()
    for note in dict.fromkeys(note for result in results for note in result.notes):
        _stderr.say(note)
    if file is not None:
        results = _name_as(results, file)
    for result in results:
        print(f"{result.path}\tseed={result.seed}")
    return 0


def _servers(args: argparse.Namespace) -> int:
    """One block per server: URL, up/down, device, queue, then its checkpoints. Exit 2 when
    any server is down. Everything the server sent is escaped before it reaches the terminal."""
    from .remote.protocol import safe_text

    statuses = _remote_engine(args.urls, args.token, default_output_dir()).statuses()
    for status in statuses:
        info = status.info
        if info is None:
            print(f"{status.url}\tdown\t{status.error}")
            continue
        version = f"\tComfyUI {safe_text(info.comfyui_version, 40)}" if info.comfyui_version else ""
        print(f"{status.url}\tup\t{safe_text(info.device, 120)}\tqueue {info.queue_remaining}"
              f"{version}")  # fmt: skip
        for name in info.checkpoints:
            print(f"  {safe_text(name, 200)}")
    return EXIT_BAD_INPUT if any(s.info is None for s in statuses) else 0
