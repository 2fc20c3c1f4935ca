"""The engine: loads a model once and runs txt2img, img2img and inpaint on the same weights."""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from .canvas_size import scaled_to
from .embeddings import Embedding, expand_names, install, read_embedding, wanted_embeddings
from .errors import BrushworkError, Cancelled, RequestError
from .inpaint import InpaintPlan, finish_inpaint, plan_inpaint
from .loras import LoraState, apply_loras, lora_hashes, strip_tags, wanted_loras
from .memory import MemoryPlan, available_bytes, plan_memory, stronger_plan
from .model_card import model_defaults
from .models import (
    ModelSource,
    SourceKind,
    choose_device,
    choose_dtype,
    describe_source,
    load_text2image,
    parse_model_source,
)
from .preview import LatentRGB, latent_rgb_for, track_x0
from .prompt_encoding import encode_prompts, encode_truncated
from .recovery import (
    FinalLatents,
    decode_in_float32,
    decode_latents,
    free_memory,
    invalid_items,
    is_out_of_memory,
)
from .request import GenerationRequest, Mode, item_seed
from .results import GeneratedImage, StepCallback, StepUpdate
from .samplers import make_scheduler
from .saving import save_all, unsaved
from .vae import set_vae, vae_name

_WEIGHTED_MODULES = ("unet", "vae", "text_encoder", "text_encoder_2")


def _bytes_of(module: Any) -> int:
    return sum(p.numel() * p.element_size() for p in module.parameters())


def native_size(pipe: Any) -> int | None:
    """The square size the model was trained at (512 for SD 1.x, 1024 for SDXL, 64 for the
    bundled model): what diffusers itself generates when no size is given. Far from it, models
    repeat or lose their subject, so the CLI and the app default to it."""
    sample_size = getattr(getattr(pipe, "unet", None), "config", {}).get("sample_size")
    scale = getattr(pipe, "vae_scale_factor", None)
    if isinstance(sample_size, (list, tuple)):
        sample_size = sample_size[0]
    return int(sample_size * scale) if isinstance(sample_size, int) and scale else None


class LoadedModel:
    """One model's weights and the pipelines derived from them with `from_pipe` (no copies)."""

    def __init__(self, source: ModelSource, text2image: Any, kind: str | None = None) -> None:
        self.source = source
        self.kind = kind  # e.g. "SD 1.x checkpoint": what was detected, shown to the user
        self.pipelines: dict[Mode, Any] = {Mode.TXT2IMG: text2image}
        # Keep the original config: each run builds its sampler from it (see make_scheduler).
        self.scheduler_config = text2image.scheduler.config
        modules = [getattr(text2image, name, None) for name in _WEIGHTED_MODULES]
        sizes = [_bytes_of(m) for m in modules if m is not None]
        self.weight_bytes, self.largest_module_bytes = sum(sizes), max(sizes, default=0)
        self.offloaded = False
        is_sdxl = "XL" in type(text2image).__name__
        folder = Path(source.location) if source.kind is SourceKind.FOLDER else None
        self.latent_rgb: LatentRGB = latent_rgb_for(folder, is_sdxl)
        self.native_size = native_size(text2image)
        # Its size and its card's sampler/CFG: what "not given" means in a request.
        self.defaults = model_defaults(folder, self.native_size)

    def pipeline(self, mode: Mode) -> Any:
        if mode not in self.pipelines:
            from diffusers import AutoPipelineForImage2Image, AutoPipelineForInpainting

            auto = AutoPipelineForImage2Image if mode is Mode.IMG2IMG else AutoPipelineForInpainting
            derived = auto.from_pipe(self.pipelines[Mode.TXT2IMG])
            derived.set_progress_bar_config(disable=True)  # not carried over by from_pipe
            self.pipelines[mode] = derived
        return self.pipelines[mode]


class Engine:
    """Runs generation requests. Not thread-safe: one caller (the GUI's worker thread) at a time.

    Every finished image is written to `output_dir` before `run` returns it.
    """

    def __init__(
        self,
        output_dir: Path,
        device: str = "auto",
        precision: str = "auto",
        *,
        memory_savings: str = "auto",
        previews: bool = True,
        allow_pickle: bool = False,
    ) -> None:
        """`memory_savings`: "auto" plans VAE tiling / attention slicing / CPU offload per run
        (see memory.py), "off" never uses them. `previews` False skips the per-step preview
        (progress is still reported). `allow_pickle` lets .ckpt/.pt load, weights only."""
        if memory_savings not in ("auto", "off"):
            raise RequestError(f"memory_savings must be auto or off (got {memory_savings!r}).")
        self.output_dir = Path(output_dir)
        self.device = choose_device(device)
        self.dtype = choose_dtype(self.device, precision)
        self.memory_savings = memory_savings
        self.previews = previews
        self.allow_pickle = allow_pickle
        self.last_memory_plan: MemoryPlan | None = None
        self.model: LoadedModel | None = None
        self.run_extras: dict[str, Any] = {}  # engine-made metadata of this run (LoRA hashes)
        self.run_embeddings: list[Embedding] = []  # embeddings this run's prompts name

    def load(self, model: str | None = None) -> LoadedModel:
        """Loads `model` (None: the bundled one) unless it is the one already loaded."""
        source = parse_model_source(model, allow_pickle=self.allow_pickle)
        if self.model is None or self.model.source != source:
            self.model = None  # drop the old weights before loading new ones
            pipe = load_text2image(source, self.device, self.dtype)
            self.model = LoadedModel(source, pipe, describe_source(source))
        return self.model

    def run(
        self,
        request: GenerationRequest,
        on_step: StepCallback | None = None,
        cancel: threading.Event | None = None,
        *,
        output_size: tuple[int, int] | None = None,
        save: bool = True,
    ) -> list[GeneratedImage]:
        """Generates `request.batch_size` images; raises Cancelled if `cancel` gets set.

        `output_size` (width, height): each image is scaled to it before it is saved, e.g. back
        to an init image whose sides are not multiples of 8 (see canvas_size.py). `save` False
        (Live mode) writes nothing: the images come back with `path` None, and
        `saving.save_later` writes one with its metadata if the user keeps it."""
        model = self.load(request.model)
        # "Not given" size, sampler and CFG become the model's own: decided here, once.
        request = request.resolved(model.defaults).with_resolved_seed()
        arrays, notes = self._generate(request, on_step, cancel)
        if request.hires_scale:  # hires fix: a second, img2img pass at the larger size
            from .hires import hires_pass

            arrays = hires_pass(self, request, arrays, on_step, cancel, notes)
        if output_size is not None:
            arrays = [scaled_to(array, output_size) for array in arrays]
        saved = self._save_all(request, arrays, model, tuple(notes), save)
        return [dataclasses.replace(r, memory_plan=self.last_memory_plan) for r in saved]

    def _generate(
        self,
        request: GenerationRequest,
        on_step: StepCallback | None,
        cancel: threading.Event | None,
        init_latents: Any = None,
    ) -> tuple[list[np.ndarray], list[str]]:
        """The images of one resolved, seeded request, not yet saved, and the notes about them.
        `init_latents` replace the init image of an img2img request (the hires fix)."""
        model = self.load(request.model)  # already loaded by `run`: no reload
        plan = plan_inpaint(request) if request.mode is Mode.INPAINT else None
        region = tuple(plan.box) if plan is not None else None
        self.run_extras, self.run_embeddings = apply_request_extras(model, request)
        pipe = model.pipeline(request.mode)
        scheduler = make_scheduler(request.sampler, model.scheduler_config)
        read_x0 = track_x0(scheduler)
        pipe.scheduler = scheduler  # from_pipe shares one scheduler object: set it every run
        self.last_memory_plan = self._apply_memory_plan(model, pipe, request)
        started = time.perf_counter()
        final_latents = FinalLatents()

        def step_end(pipe_: Any, index: int, _t: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            if cancel is not None and cancel.is_set():
                raise Cancelled()  # stops at once; interrupting would still run the VAE decode
            # Kept to decode again without denoising again (out of memory in the decode, NaN).
            final_latents.record(tensors["latents"], index + 1, pipe_._num_timesteps)
            if on_step is not None:
                preview = None
                if self.previews:
                    x0 = read_x0()
                    latents = x0 if x0 is not None else tensors["latents"]
                    preview = model.latent_rgb.project(latents[0])
                elapsed = time.perf_counter() - started
                total = pipe_._num_timesteps
                memory = self.last_memory_plan
                on_step(StepUpdate(index + 1, total, elapsed, preview, region, memory))
            return tensors

        if cancel is not None and cancel.is_set():
            raise Cancelled()
        notes = prompt_notes(pipe, request)
        arrays = self._call(
            model, pipe, request, step_end, plan, notes, final_latents, init_latents
        )
        if plan is not None:
            arrays = [finish_inpaint(plan, array) for array in arrays]
        return list(arrays), notes

    def _apply_memory_plan(
        self, model: LoadedModel, pipe: Any, request: GenerationRequest
    ) -> MemoryPlan:
        """Switches VAE tiling / attention slicing / CPU offload to what this run needs."""
        if self.memory_savings == "off":
            plan = MemoryPlan(False, False, False, 0, available_bytes(self.device))
        else:
            plan = plan_memory(
                model.weight_bytes, model.largest_module_bytes, request.width, request.height,
                request.batch_size, torch.finfo(self.dtype).bits // 8,
                available_bytes(self.device), can_offload=self.device == "cuda",
            )  # fmt: skip
        _switch_savings(model, pipe, plan, self.device)
        return plan

    def _call(
        self,
        model: LoadedModel,
        pipe: Any,
        request: GenerationRequest,
        step_end: Callable,
        plan: InpaintPlan | None,
        notes: list[str],
        final_latents: FinalLatents,
        init_latents: Any = None,
    ) -> np.ndarray:
        kwargs: dict[str, Any] = {
            "prompt": request.prompt,
            "negative_prompt": request.negative_prompt or None,
            "num_inference_steps": request.steps,
            "guidance_scale": request.guidance,
            "num_images_per_prompt": request.batch_size,
            "callback_on_step_end": step_end,
            "output_type": "np",
        }
        size = (request.width, request.height)
        if request.mode is Mode.TXT2IMG:
            kwargs.update(width=request.width, height=request.height)
        else:
            kwargs["strength"] = request.strength
            kwargs["num_inference_steps"] = _steps_for_strength(request.steps, request.strength)
        if request.mode is Mode.IMG2IMG:
            kwargs["image"] = (
                _pil(request.init_image, size) if init_latents is None else init_latents
            )
        if plan is not None:  # inpaint: the planned region, already scaled to the request size
            kwargs.update(
                image=plan.model_image(),
                mask_image=plan.model_mask(),
                width=request.width,
                height=request.height,
            )
        apply_prompt_style(pipe, request, kwargs, notes, self.run_embeddings)
        images = self._run_with_memory_retries(model, pipe, request, kwargs, notes, final_latents)
        bad = invalid_items(images)
        if bad:  # decode only the bad items again; the others stay as they are
            latents = final_latents.latents
            subset = latents[bad] if latents is not None else None
            images[bad] = self._redecode_in_float32(pipe, subset, notes)
        return (np.clip(images, 0.0, 1.0) * 255.0).round().astype(np.uint8)

    def _run_with_memory_retries(
        self,
        model: LoadedModel,
        pipe: Any,
        request: GenerationRequest,
        kwargs: dict[str, Any],
        notes: list[str],
        final_latents: FinalLatents,
    ) -> np.ndarray:
        """Runs the pipeline; out of memory frees it and retries with the next saving, or, when
        only the VAE decode ran out, decodes the final latents again with VAE tiling."""
        while True:
            # Fresh generators per attempt: a retry starts from the same noise (its pixels differ
            # only where the added saving does, e.g. VAE tiling on images larger than a tile).
            kwargs["generator"] = [
                torch.Generator("cpu").manual_seed(item_seed(request.seed, k))
                for k in range(request.batch_size)
            ]
            final_latents.complete = False
            try:
                with torch.inference_mode():
                    return pipe(**kwargs).images
            except Exception as exc:
                if not is_out_of_memory(exc):
                    raise
            # Outside the except block: the failed attempt's frames (and tensors) are gone.
            free_memory(self.device)
            if final_latents.complete:  # every step ran: only the decode ran out of memory
                images = self._decode_with_less_memory(pipe, request, final_latents.latents, notes)
                if images is not None:
                    return images
            plan = self.last_memory_plan
            stronger = None
            if self.memory_savings != "off" and plan is not None:
                stronger = stronger_plan(plan, can_offload=self.device == "cuda")
            if stronger is None:
                raise BrushworkError(self._out_of_memory_message(request, plan))
            _switch_savings(model, pipe, stronger, self.device)
            self.last_memory_plan = stronger
            notes.append(
                f"Ran out of memory on {self.device}; freed it and retried with "
                f"{', '.join(stronger.savings)}."
            )

    def _decode_with_less_memory(
        self, pipe: Any, request: GenerationRequest, latents: Any, notes: list[str]
    ) -> np.ndarray | None:
        """The VAE decode ran out of memory: decode the same latents again with VAE tiling,
        then also one image at a time, instead of repeating the whole denoising. None if that
        is not possible or not enough (the caller then goes on with the other savings)."""
        plan = self.last_memory_plan
        if self.memory_savings == "off" or plan is None:
            return None
        rungs = [] if plan.vae_tiling else [("VAE tiling", pipe.vae.enable_tiling)]
        if request.batch_size > 1:
            rungs.append(("one image at a time", pipe.vae.enable_slicing))
        used: list[str] = []
        try:
            for name, switch_on in rungs:
                switch_on()
                used.append(name)
                try:
                    images = decode_latents(pipe, latents)
                except Exception as exc:
                    if not is_out_of_memory(exc):
                        raise
                    images = None  # freed below, outside the except block (its frames hold it)
                if images is not None:
                    notes.append(
                        f"Ran out of memory on {self.device} while decoding the image; freed it "
                        f"and decoded the same latents again with {' and '.join(used)} (the "
                        "denoising was not repeated)."
                    )
                    return images
                free_memory(self.device)
        finally:
            pipe.vae.disable_slicing()  # one image at a time only for this decode
            self.last_memory_plan = dataclasses.replace(plan, vae_tiling=True)
        return None

    def _out_of_memory_message(self, request: GenerationRequest, plan: MemoryPlan | None) -> str:
        size = f"{request.width}×{request.height}, batch {request.batch_size}"
        if self.memory_savings == "off":
            return (
                f"Out of memory on {self.device} at {size}. Memory savings are off: set "
                "Settings → Memory savings to Automatic, or use a smaller size or batch."
            )
        tried = ", ".join(plan.savings) if plan is not None and plan.savings else "no savings"
        return (
            f"Out of memory on {self.device} at {size}, even with {tried}. Use a smaller size "
            "or batch, or close other programs that use the memory."
        )

    def _redecode_in_float32(self, pipe: Any, latents: Any, notes: list[str]) -> np.ndarray:
        """NaN/inf pixels: decode these latents (the bad items of the batch) again with a
        float32 VAE, and say so."""
        vae_dtype = getattr(getattr(pipe, "vae", None), "dtype", torch.float32)
        if latents is not None and vae_dtype != torch.float32:
            try:
                images = decode_in_float32(pipe, latents)
            except Exception as exc:
                if not is_out_of_memory(exc):
                    raise
                images = None  # a float32 VAE needs twice the memory: report it below
            if images is None:
                free_memory(self.device)
                raise BrushworkError(
                    "The VAE produced NaN (a black image) in reduced precision and there is not "
                    "enough memory to decode again in float32. Turn on Settings → Memory savings "
                    "or use a smaller size."
                )
            if not invalid_items(images):
                notes.append(
                    "The VAE produced NaN (a black image) in reduced precision; the image was "
                    "decoded again in float32."
                )
                return images
        raise BrushworkError(
            "The model produced invalid values (NaN), which would be a black image. Try "
            "Settings → Precision fp32, another sampler, or fewer steps at this CFG scale."
        )

    def _save_all(
        self,
        request: GenerationRequest,
        arrays: list[np.ndarray],
        model: LoadedModel,
        notes: tuple[str, ...],
        save: bool = True,
    ) -> list[GeneratedImage]:
        """Writes every image (see saving.save_all: shared with the remote backend)."""
        if not save:  # Live: kept in memory with what writing them later needs
            return unsaved(request, arrays, model.source.name, notes, self.run_extras)
        return save_all(self.output_dir, request, arrays, model.source.name, notes, self.run_extras)


def _switch_savings(model: LoadedModel, pipe: Any, plan: MemoryPlan, device: str) -> None:
    """Turns the pipeline's VAE tiling / attention slicing / CPU offload on or off per `plan`."""
    if plan.vae_tiling:
        pipe.vae.enable_tiling()
    else:
        pipe.vae.disable_tiling()
    if plan.attention_slicing:
        pipe.enable_attention_slicing()
    else:
        pipe.disable_attention_slicing()
    if plan.cpu_offload and not model.offloaded:  # stays on until another model is loaded
        pipe.enable_model_cpu_offload(device=device)
        model.offloaded = True


def prompt_notes(pipe: Any, request: GenerationRequest) -> list[str]:
    """CLIP reads at most 77 tokens (75 of text): say how much of a long prompt is dropped.

    Brushwork truncates like diffusers does rather than chunking (A1111 style), so a prompt
    means the same here as in the model's own pipeline; the note makes the loss visible.
    """
    if request.prompt_style != "pipeline":
        return []  # weighted A1111-style prompts are encoded in chunks: nothing is dropped
    tokenizer = getattr(pipe, "tokenizer", None)
    limit = getattr(tokenizer, "model_max_length", None)
    if tokenizer is None or not isinstance(limit, int) or limit > 100_000:
        return []
    notes = []
    for label, text in (("prompt", request.prompt), ("negative prompt", request.negative_prompt)):
        count = len(tokenizer(text).input_ids)
        if count > limit:
            notes.append(
                f"The {label} is {count - 2} tokens long; the text encoder reads only the first "
                f"{limit - 2}, so the last {count - limit} were ignored."
            )
    return notes


# --- Prompt syntax (prompt_encoding.py) and LoRAs (loras.py) ---------------------------------
def apply_prompt_style(
    pipe: Any,
    request: GenerationRequest,
    kwargs: dict[str, Any],
    notes: list[str],
    embeddings: list[Embedding],
) -> None:
    """Replaces the prompt texts in `kwargs` by their A1111-style encodings, unless the request
    asks for the model's own pipeline behaviour."""
    prompt = strip_tags(request.prompt)  # <lora:…> tags are for apply_request_loras only
    if request.prompt_style == "pipeline":  # diffusers expands multi-vector embeddings itself
        kwargs["prompt"] = prompt
        if request.clip_skip > 1 and getattr(pipe, "text_encoder_2", None) is not None:
            kwargs["clip_skip"] = request.clip_skip - 1  # diffusers counts the layers skipped
        elif request.clip_skip > 1:
            del kwargs["prompt"], kwargs["negative_prompt"]
            kwargs.update(encode_truncated(pipe, prompt, request.negative_prompt,
                                           request.clip_skip))  # fmt: skip
        return
    prompt = expand_names(prompt, embeddings)
    negative = expand_names(request.negative_prompt, embeddings)
    encoded = encode_prompts(pipe, prompt, negative, request.clip_skip)
    del kwargs["prompt"], kwargs["negative_prompt"]
    kwargs.update(encoded.kwargs)
    notes.extend(encoded.notes)


def apply_request_extras(
    model: LoadedModel, request: GenerationRequest
) -> tuple[dict[str, Any], list[Embedding]]:
    """LoRAs and embeddings of the request: the metadata they add, and the embeddings used."""
    extras = apply_request_loras(model, request)
    set_vae(model, request.vae)
    if request.vae:
        extras["vae_name"] = vae_name(request.vae)
    installed = model.__dict__.setdefault("embeddings", {})
    used = []
    for path in wanted_embeddings(request):
        key = str(path.resolve())
        if key not in installed:
            embedding = read_embedding(path)
            install(model.pipelines[Mode.TXT2IMG], embedding)
            installed[key] = embedding
        used.append(installed[key])
    if used:
        extras["ti_hashes"] = ", ".join(dict.fromkeys(f"{e.name}: {e.short_hash}" for e in used))
    return extras, used


def apply_request_loras(model: LoadedModel, request: GenerationRequest) -> dict[str, Any]:
    """Sets the request's LoRAs (and <lora:…> tags) on the model's shared modules, loading only
    files not loaded before; returns the metadata they add (A1111's `Lora hashes`)."""
    wanted = wanted_loras(request)
    state = getattr(model, "lora_state", None)
    if state is None and not wanted:
        return {}
    if state is None:
        state = model.lora_state = LoraState()  # type: ignore[attr-defined]
    applied = apply_loras(state, model.pipelines[Mode.TXT2IMG], wanted)
    return {"lora_hashes": lora_hashes(applied)} if applied else {}


# ---------------------------------------------------------------------------------------------
def _steps_for_strength(steps: int, strength: float) -> int:
    """diffusers runs int(steps × strength) steps and crashes on zero: always run at least one."""
    return steps if int(steps * strength) >= 1 else math.ceil(1 / strength)


def _pil(array: np.ndarray, size: tuple[int, int]) -> Image.Image:
    """A PIL image at the request size (init images and masks are resized to it, as in A1111)."""
    image = Image.fromarray(array)
    return image if image.size == size else image.resize(size, Image.Resampling.LANCZOS)
