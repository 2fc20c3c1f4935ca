"""Branching: every step's latents and sampler state, and the real sampler continued from one.

A `StepRecorder` given to `Engine.run` keeps, after every denoising step, the latents, the
scheduler's internal state (multistep solvers' earlier model outputs, Heun's half-step sample,
the step index …) and each batch item's noise generator state. A `BranchPoint` is one of those
steps; a request with `branch=point` runs the *same* scheduler from there: the pipeline sets the
schedule up as usual, the recorded state is put back into the scheduler, and the pipeline's loop
sees only the remaining timesteps (`_ResumingScheduler`). With unchanged settings the result is
bit-identical to the original; a changed prompt, CFG or seed changes only the remaining steps.

What state a sampler keeps is not listed by hand: it is whatever differs, attribute by
attribute, from a fresh scheduler with the same schedule (sampler_state.py). A sampler whose
state holds something that cannot be copied exactly is refused by name (`BranchingUnsupported`).

No torch import at module level: fields.py (read by the GUI before torch loads) imports this.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .errors import RequestError
from .sampler_state import (
    BranchingUnsupported,
    check_state,
    copy_state,
    same_bits,
    state_of,
    tensors_in,
)

DEFAULT_MAX_BYTES = 512 * 2**20  # an SD 1.5 run of 50 steps at 512² needs about 10 MiB


@dataclass(frozen=True, eq=False)
class BranchPoint:
    """The run as it stood after `step` of `total` steps (counted as progress counts them).

    `scheduler_state`: the attributes that differ from a fresh scheduler set up for
    `schedule_steps` (tensors, lists of tensors, plain values); `timesteps`: that schedule,
    checked again before continuing. `generator_states`: one per batch item, as after this step.
    `offset`: steps of the schedule the run skipped before its first one (img2img strength).
    """

    step: int
    total: int
    latents: Any  # torch.Tensor, batch × channels × h × w
    scheduler_state: Mapping[str, Any]
    generator_states: tuple[Any, ...]
    timesteps: Any
    offset: int
    schedule_steps: int
    sampler: str
    steps: int
    width: int
    height: int
    seed: int
    model_name: str
    model_hash: str
    prompt: str = ""

    @property
    def batch_size(self) -> int:
        return int(self.latents.shape[0])

    @property
    def dtype(self) -> str:
        return str(self.latents.dtype).removeprefix("torch.")

    def nbytes(self) -> int:
        tensors = [self.latents, self.timesteps, *self.generator_states]
        tensors += [t for v in self.scheduler_state.values() for t in tensors_in(v)]
        return sum(t.numel() * t.element_size() for t in tensors)

    def describe(self) -> dict[str, Any]:
        """JSON-ready provenance for the image's metadata (the tensors stay out)."""
        return {"step": self.step, "of": self.total, "seed": self.seed, "prompt": self.prompt}


def check_branch(value: Any) -> BranchPoint:
    """The field table's check of `GenerationRequest.branch`."""
    if not isinstance(value, BranchPoint):
        raise RequestError(
            f"branch must be a step recorded by the engine (a BranchPoint), got "
            f"{type(value).__name__}; use --branch-from DIR --step K on the command line."
        )
    return value


def check_request(point: BranchPoint, request: Any) -> None:
    """The rules between a request and the point it continues: everything that shapes the
    latents or the schedule must be the recording's; prompt, CFG, seed, LoRAs may change."""
    if request.mode.value != "txt2img":
        raise RequestError(
            f"branch: a branch continues recorded latents (any init image is already in them), "
            f"so its mode is txt2img, not {request.mode.value}."
        )
    if request.hires_scale:
        raise RequestError("branch: the hires fix cannot be combined with a branch; turn it off.")
    asked = {"sampler": request.sampler, "steps": request.steps, "width": request.width,
             "height": request.height, "batch_size": request.batch_size}  # fmt: skip
    for name, value in asked.items():
        recorded = getattr(point, name)
        if value is not None and value != recorded:
            raise RequestError(
                f"branch: the latents were made with {name} {recorded}; this request asks for "
                f"{value}. A branch continues the same run: keep {name} {recorded}."
            )


def check_model(point: BranchPoint, model_name: str, model_hash: str) -> None:
    if point.model_hash != model_hash and point.model_name == model_name:
        raise RequestError(
            f"branch: {model_name} is loaded with other weights or another precision than when "
            f"the latents were made (fingerprint {model_hash[:12]}, then {point.model_hash[:12]}); "
            "generate again to branch."
        )
    if point.model_hash != model_hash:
        raise RequestError(
            f"branch: the latents were made with the model {point.model_name} (fingerprint "
            f"{point.model_hash[:12]}); the loaded model is {model_name} ({model_hash[:12]}). "
            f"Load {point.model_name} to branch from them."
        )


def model_fingerprint(modules: list[Any]) -> str:
    """A cheap identity of loaded weights: every tensor's name, shape and dtype plus up to 64
    values spread over it. Different checkpoints (or precisions) differ in it; reading all the
    weights of an SDXL model for a full hash would take seconds. LoRA adapters (peft keeps
    them beside the base weights) are left out: a branch may change them like the prompt."""
    import torch

    digest = hashlib.sha256()
    for module in modules:
        for name, tensor in module.state_dict().items():
            if "lora_" in name:
                continue  # LoRA adapters are the request's (like the prompt), not the model's
            digest.update(f"{name}{tuple(tensor.shape)}{tensor.dtype}".encode())
            flat = tensor.detach().reshape(-1)
            sample = flat[:: max(1, flat.numel() // 64)][:64].to("cpu", torch.float32)
            digest.update(sample.numpy().tobytes())
    return digest.hexdigest()


# --- recording ----------------------------------------------------------------------------------
@dataclass
class StepRecorder:
    """Filled by the engine during one run: `points[k - 1]` is the state after step k.

    `prefix`: the points a branch run inherits (its first steps are the parent's). Recording
    stops once the points hold `max_bytes`; `note` then says up to which step they were kept.
    `refusal` says why the run cannot be branched at all (then nothing is recorded).
    """

    max_bytes: int = DEFAULT_MAX_BYTES
    prefix: tuple[BranchPoint, ...] = ()
    points: list[BranchPoint] = field(default_factory=list)
    refusal: str | None = None
    note: str | None = None
    _bytes: int = 0

    def __post_init__(self) -> None:
        self.restart()

    def restart(self) -> None:
        """A new attempt (an out-of-memory retry repeats the run): forget its steps."""
        self.points = list(self.prefix)
        self._bytes = sum(p.nbytes() for p in self.prefix)
        self.note = None

    def add(self, point: BranchPoint) -> None:
        if self.note is not None:
            return
        size = point.nbytes()
        if self._bytes + size > self.max_bytes:
            self.note = (
                f"Latents kept for steps 1–{len(self.points)} only (the {self.max_bytes >> 20} "
                "MiB kept for branching is full)."
            )
            return
        self.points.append(point)
        self._bytes += size

    def point(self, step: int) -> BranchPoint:
        """The point after `step`; RequestError naming the steps there are."""
        kept = len(self.points)
        if self.refusal:
            raise RequestError(self.refusal)
        total = self.points[0].total if self.points else 0
        if not 1 <= step < max(total, 1) or step > kept:
            last = min(kept, total - 1)
            raise RequestError(
                f"Step {step} cannot be branched from: choose a step from 1 to {last} "
                f"(the run had {total} steps{'; ' + self.note if self.note else ''})."
            )
        return self.points[step - 1]


def refusal_for(request: Any) -> str | None:
    """Why a run of `request` cannot be branched later (None: it can)."""
    if request.mode.value == "inpaint":
        return (
            "Inpaint runs cannot be branched: every step blends the original image back in "
            "outside the mask, which a branch cannot repeat."
        )
    if request.hires_scale:
        return "Runs with the hires fix cannot be branched (they are two passes); turn it off."
    return None


class RunHooks:
    """What branching does inside one `Engine._generate`: continue from `point` and/or record
    into `recorder`. The engine calls `before_call` per attempt, `position` and `after_step`
    from its step callback."""

    def __init__(
        self,
        request: Any,
        scheduler: Any,
        new_scheduler: Callable[[], Any],
        model_name: str,
        model_hash: Callable[[], str],
        recorder: StepRecorder | None,
    ) -> None:
        self.request = request
        self.scheduler = scheduler
        self.new_scheduler = new_scheduler
        self.model_name = model_name
        self.model_hash = model_hash
        self.point: BranchPoint | None = request.branch
        self.recorder = recorder
        self.generators: list[Any] = []
        self._baseline: Any = None
        self._start = 0  # the first step this run makes (0, or the branch point's)
        if recorder is not None:
            recorder.refusal = refusal_for(request)
        if self.point is not None:
            check_model(self.point, model_name, model_hash())
            self._start = self.point.step

    def pipeline_scheduler(self) -> Any:
        """What the pipeline gets as its scheduler: the real one, or for a branch, the real
        one behind a view that shows the pipeline's loop only the remaining timesteps."""
        if self.point is None:
            return self.scheduler
        return _ResumingScheduler(self.scheduler, self.point)

    def before_call(self, kwargs: dict[str, Any], latent_shape: tuple[int, ...]) -> None:
        """Per attempt, after the engine made fresh generators: a branch starts from the
        recorded latents and noise generators; the recorder forgets a failed attempt.
        `latent_shape`: what the pipeline would make for this request (`latent_shape`)."""
        self.generators = list(kwargs.get("generator") or [])
        if self.recorder is not None:
            self.recorder.restart()
        point = self.point
        if point is None:
            return
        if tuple(point.latents.shape) != tuple(latent_shape):
            raise RequestError(
                f"branch: the latents have shape {tuple(point.latents.shape)}; this model at "
                f"{point.width}×{point.height} makes {tuple(latent_shape)}."
            )
        device = kwargs["generator"][0].device
        kwargs["latents"] = point.latents.clone()
        kwargs["num_inference_steps"] = point.schedule_steps
        kwargs["generator"] = self.generators = _generators(self.request, point, device)

    def position(self, index: int, run_total: int) -> tuple[int, int]:
        """(step, total) of callback `index` as the whole run counts them."""
        return self._start + index + 1, self._start + run_total

    def after_step(self, index: int, run_total: int, latents: Any) -> None:
        recorder = self.recorder
        if recorder is None or recorder.refusal is not None or recorder.note is not None:
            return
        step, total = self.position(index, run_total)
        try:
            point = self._point_now(step, total, run_total, latents)
        except BranchingUnsupported as exc:
            recorder.refusal = str(exc)
            recorder.points.clear()
            return
        recorder.add(point)

    def _point_now(self, step: int, total: int, run_total: int, latents: Any) -> BranchPoint:
        real = self.scheduler
        if self._baseline is None:
            self._baseline = self.new_scheduler()
            self._baseline.set_timesteps(real.num_inference_steps, device=real.timesteps.device)
        request = self.request
        return BranchPoint(
            step=step,
            total=total,
            latents=latents.detach().clone(),
            scheduler_state=MappingProxyType(state_of(real, self._baseline, request.sampler)),
            generator_states=tuple(g.get_state() for g in self.generators),
            timesteps=real.timesteps.detach().clone(),
            offset=len(real.timesteps) - run_total - self._start,
            schedule_steps=int(real.num_inference_steps),
            sampler=request.sampler,
            steps=request.steps,
            width=request.width,
            height=request.height,
            seed=request.seed,
            model_name=self.model_name,
            model_hash=self.model_hash(),
            prompt=request.prompt,
        )


def hooks_for(model: Any, pipe: Any, request: Any, recorder: StepRecorder | None) -> RunHooks:
    """The hooks of one run on `model` (engine.LoadedModel) with `pipe`'s scheduler."""
    from .samplers import make_scheduler

    def fingerprint() -> str:  # once per loaded model, and only when a run needs it
        if "branch_fingerprint" not in model.__dict__:
            modules = [getattr(pipe, n, None) for n in ("unet", "vae", "text_encoder",
                                                        "text_encoder_2")]  # fmt: skip
            model.branch_fingerprint = model_fingerprint([m for m in modules if m is not None])
        return model.branch_fingerprint

    return RunHooks(
        request, pipe.scheduler, lambda: make_scheduler(request.sampler, model.scheduler_config),
        model.source.name, fingerprint, recorder,
    )  # fmt: skip


def latent_shape(pipe: Any, request: Any) -> tuple[int, ...]:
    """The shape of the latents the pipeline makes for a txt2img `request`."""
    scale = pipe.vae_scale_factor
    channels = pipe.unet.config.in_channels
    return (request.batch_size, channels, request.height // scale, request.width // scale)


def _generators(request: Any, point: BranchPoint, device: Any) -> list[Any]:
    """Item k's noise for the remaining steps: the recorded generator when its seed is the
    recording's (so the run repeats exactly), else a fresh one from the new seed."""
    import torch

    from .request import item_seed

    made = []
    for k, state in enumerate(point.generator_states):
        generator = torch.Generator(device)
        if item_seed(request.seed, k) == item_seed(point.seed, k):
            generator.set_state(state.clone())
        else:
            generator.manual_seed(item_seed(request.seed, k))
        made.append(generator)
    return made


class _ResumingScheduler:
    """The pipeline's view of the real scheduler during a branch.

    `set_timesteps` sets the real schedule up, checks it is the recorded one and puts the
    recorded state back; `timesteps` then shows only the steps after the branch point (the
    real scheduler keeps its full schedule: its solvers index into it); `init_noise_sigma` is
    1 because the pipeline multiplies given latents by it and ours are already mid-run.
    Everything else is the real scheduler's.
    """

    def __init__(self, real: Any, point: BranchPoint) -> None:
        object.__setattr__(self, "_real", real)
        object.__setattr__(self, "_point", point)

    def set_timesteps(self, *args: Any, **kwargs: Any) -> None:
        real, point = self._real, self._point
        real.set_timesteps(*args, **kwargs)
        if not same_bits(real.timesteps.cpu(), point.timesteps.cpu()):
            raise RequestError(
                f"branch: the sampler {point.sampler} makes another schedule here than in the "
                "recorded run (its configuration differs); the latents cannot be continued."
            )
        check_state(real, point.scheduler_state, point.sampler, tuple(point.latents.shape))
        device = point.latents.device
        for name, value in point.scheduler_state.items():
            setattr(real, name, copy_state(value, device))

    @property
    def timesteps(self) -> Any:
        return self._real.timesteps[self._point.offset + self._point.step :]

    @property
    def init_noise_sigma(self) -> float:
        return 1.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._real, name, value)
