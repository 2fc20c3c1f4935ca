"""`generate --save-latents DIR` and `generate --branch-from DIR --step K` (branching.py)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .branching import BranchPoint, StepRecorder, refusal_for
from .errors import RequestError
from .request import GenerationRequest


def add_branch_arguments(gen: argparse.ArgumentParser) -> None:
    group = gen.add_argument_group("step latents and branching")
    group.add_argument(
        "--save-latents", type=Path, default=None, metavar="DIR",
        help="write every step's latents and sampler state to DIR/step-NNNN.safetensors "
        "(txt2img and img2img)",
    )  # fmt: skip
    group.add_argument(
        "--branch-from", type=Path, default=None, metavar="DIR",
        help="continue a run saved with --save-latents from --step K, with this prompt, CFG "
        "and seed (sampler, steps, size and seed default to the saved run's)",
    )  # fmt: skip
    group.add_argument("--step", type=int, default=None, metavar="K", help="with --branch-from")


def branch_point(args: argparse.Namespace) -> BranchPoint | None:
    """The point to continue from, read and checked before any model loads; None without
    --branch-from."""
    if args.step is not None and args.branch_from is None:
        raise RequestError("--step goes with --branch-from DIR.")
    if args.branch_from is None:
        return None
    if args.step is None:
        raise RequestError("--branch-from needs --step K (the step to continue from).")
    if args.init is not None or args.mask is not None or args.outpaint is not None:
        raise RequestError(
            "--branch-from continues saved latents (any init image is already in them): leave "
            "out --init, --mask and --outpaint."
        )
    from .branch_files import load_point

    return load_point(args.branch_from, args.step)


def branch_fields(args: argparse.Namespace, point: BranchPoint | None) -> dict[str, Any]:
    """The saved run's sampler, steps, size, batch and seed where the command line gives none."""
    if point is None:
        return {}
    given = {"sampler": args.sampler, "steps": args.steps, "width": args.width,
             "height": args.height, "seed": None if args.seed == -1 else args.seed}  # fmt: skip
    saved = {"sampler": point.sampler, "steps": point.steps, "width": point.width,
             "height": point.height, "seed": point.seed}  # fmt: skip
    chosen = {key: saved[key] if value is None else value for key, value in given.items()}
    batch = point.batch_size if args.batch == 1 else args.batch
    return {**chosen, "batch_size": batch, "branch": point}


def recorder_for(args: argparse.Namespace, request: GenerationRequest) -> StepRecorder | None:
    """A recorder when --save-latents asks for one; a run that cannot be branched is refused
    before it starts."""
    if args.save_latents is None:
        return None
    refusal = refusal_for(request)
    if refusal:
        raise RequestError(f"--save-latents: {refusal}")
    if args.save_latents.exists() and not args.save_latents.is_dir():
        raise RequestError(f"--save-latents {args.save_latents}: not a folder.")
    return StepRecorder(max_bytes=2**40)  # on disk, not in memory: no cap but the disk's


def save_recording(args: argparse.Namespace, recorder: StepRecorder | None) -> str | None:
    """Writes the recorded steps; the line to tell the user."""
    if recorder is None:
        return None
    if recorder.refusal:
        return f"latents not saved: {recorder.refusal}"
    from .branch_files import save_points

    try:
        paths = save_points(args.save_latents, recorder.points)
    except OSError as exc:
        raise RequestError(f"--save-latents {args.save_latents}: {exc.strerror or exc}") from exc
    if not paths:
        return None
    return f"latents of steps {recorder.points[0].step}–{recorder.points[-1].step} in " + str(
        args.save_latents
    )
