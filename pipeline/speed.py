"""Speed options (Settings → Speed) and how the engine applies them to one run.

Exact options (the same image within fp16 rounding; bench/gpu_check.py checks PSNR ≥ 35 dB):
SDPA attention (diffusers' default; off means the classic processor), channels_last memory
format, torch.compile of the UNet, and CUDA graphs (torch.compile's "reduce-overhead" mode).
Approximate options, labelled so: TAESD previews, TAESD "fast decode" of the final image,
DeepCache (reuses the UNet's deep features between steps) and the OpenVINO UNet on the CPU (bf16
on AMX CPUs; openvino_unet.py, warmed up in the background like compile).

torch.compile never delays an image: the UNet's forward is replaced by a dispatcher that runs
the compiled UNet only for input shapes it has already warmed up, and eagerly otherwise. After
an eager run with a shape not yet compiled, the compile for that shape starts on a background
thread with the very inputs of that run; while it works, runs stay eager. A new size (which
CUDA graphs cannot replay) is just another shape: eager until it is warm. Any failure (no
compiler, an unsupported GPU, a graph break that raises) ends the compiled path for this model
with a note; the run goes on eagerly, never crashes. The inductor cache is kept on disk
(platform cache dir/Brushwork/inductor), so a later session warms up in seconds.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import BrushworkError, Cancelled, ModelError
from .openvino_unet import PREPARING, OpenVinoUNet, use_openvino
from .taesd import APPROXIMATE, PreviewBudget, decode_rgb, load_taesd, local_taesd

PREVIEW_MODES = ("linear", "taesd")
STEP_CACHE_INTERVAL = 3  # DeepCache: the full UNet every 3rd step, the cached deep part between


@dataclass(frozen=True)
class SpeedOptions:
    sdpa: bool = True
    channels_last: bool = False
    compile: bool = False
    cuda_graphs: bool = False
    preview: str = "linear"  # "taesd": TAESD previews (≤ 4/s, ≤ 10% of the time)
    fast_decode: bool = False  # the final image from TAESD (approximate)
    step_cache: bool = False  # DeepCache (approximate)
    openvino: bool = False  # the UNet through OpenVINO on the CPU (openvino_unet.py)
    compile_backend: str = "inductor"  # tests warm up with "eager" (no C++ compiler needed)

    @classmethod
    def from_dict(cls, data: Any) -> SpeedOptions:
        """From untrusted saved data: values of the wrong type keep their defaults."""
        if not isinstance(data, dict):
            return cls()
        values: dict[str, Any] = {}
        for item in dataclasses.fields(cls):
            value = data.get(item.name)
            if isinstance(item.default, bool) and isinstance(value, bool):
                values[item.name] = value
        if data.get("preview") in PREVIEW_MODES:
            values["preview"] = data["preview"]
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "compile_backend"}


def configure_threads(device: str) -> int:
    """torch's intra-op threads = physical cores on CPU: hyper-threads share one core's vector
    units, and a thread per logical core only adds contention."""
    import psutil
    import torch

    cores = psutil.cpu_count(logical=False) or os.cpu_count() or 1
    if device == "cpu" and torch.get_num_threads() != cores:
        torch.set_num_threads(cores)
    return torch.get_num_threads()


def inductor_cache_dir() -> Path:
    import platformdirs

    return platformdirs.user_cache_path("Brushwork", appauthor=False) / "inductor"


# --- torch.compile / CUDA graphs, warmed up in the background ---------------------------------
def _shape_key(args: tuple, kwargs: dict) -> tuple:
    import torch
    from torch.utils._pytree import tree_leaves

    leaves = tree_leaves((args, kwargs))
    return tuple(
        (tuple(x.shape), x.dtype, x.device.type) if isinstance(x, torch.Tensor) else type(x)
        for x in leaves
    )


def _detached_copy(value: Any) -> Any:
    import torch
    from torch.utils._pytree import tree_map

    return tree_map(lambda x: x.clone() if isinstance(x, torch.Tensor) else x, value)


class CompiledUNet:
    """The dispatcher installed as `unet.forward` while compile is on (see the module doc)."""

    def __init__(self, unet: Any, mode: str | None, backend: str) -> None:
        self.unet = unet
        # The class's own forward, bound: unet.forward may be another dispatcher already.
        self.eager = type(unet).forward.__get__(unet)
        self.mode, self.backend = mode, backend
        self.compiled: Callable | None = None
        self.warm: set[tuple] = set()
        self.failure: str | None = None
        self.new_failure = False
        self.last_inputs: tuple[tuple, dict] | None = None
        self.compiled_calls = 0
        self._thread: threading.Thread | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        key = _shape_key(args, kwargs)
        if self.failure is None and key in self.warm and not self.busy:
            try:
                result = self.compiled(*args, **kwargs)  # type: ignore[misc]
                self.compiled_calls += 1
                return result
            except Exception as exc:  # e.g. a CUDA graph that cannot replay: eager from now on
                self._fail(exc)
        if self.failure is None and key not in self.warm and self.last_inputs is None:
            self.last_inputs = (_detached_copy(args), _detached_copy(kwargs))
        return self.eager(*args, **kwargs)

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start_warmup(self) -> bool:
        """Compiles for the shape of the last eager run, on a background thread."""
        if self.failure is not None or self.busy or self.last_inputs is None:
            return False
        inputs, self.last_inputs = self.last_inputs, None
        self._thread = threading.Thread(
            target=self._warm_up, args=inputs, name="brushwork-compile", daemon=True
        )
        self._thread.start()
        return True

    def wait(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _warm_up(self, args: tuple, kwargs: dict) -> None:
        import torch

        try:
            os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(inductor_cache_dir()))
            if self.compiled is None:
                self.compiled = torch.compile(self.eager, mode=self.mode, backend=self.backend)
            # CUDA graphs record on the second or third call of a shape: warm past that.
            calls = 3 if self.mode == "reduce-overhead" else 1
            with torch.inference_mode():
                for _ in range(calls):
                    self.compiled(*args, **kwargs)
            if getattr(args[0], "is_cuda", False):
                torch.cuda.synchronize()
            self.warm.add(_shape_key(args, kwargs))
        except Exception as exc:  # no C++ compiler, no triton, an unsupported GPU…
            self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        what = "CUDA graphs" if self.mode == "reduce-overhead" else "torch.compile"
        text = " ".join(str(exc).split())[:200] or type(exc).__name__
        self.failure = f"{what} failed here ({type(exc).__name__}: {text}); running eagerly."
        self.new_failure = True


# --- Per-model state and one run --------------------------------------------------------------
@dataclass
class SpeedState:
    """What the speed options changed on one loaded model (kept on the model)."""

    sdpa: bool = True
    channels_last: bool = False
    compiled: CompiledUNet | None = None
    taesd: Any = None
    taesd_failure: str | None = None
    fp16_vae: Any = None
    openvino: Any = None  # openvino_unet.OpenVinoUNet, kept across runs


@dataclass
class SpeedRun:
    """The options' part of one run: notes and metadata facts to add, the preview to show."""

    state: SpeedState
    taesd: Any = None
    budget: PreviewBudget = field(default_factory=PreviewBudget)
    notes: list[str] = field(default_factory=list)
    facts: dict[str, str] = field(default_factory=dict)
    restore: list[Callable[[], None]] = field(default_factory=list)

    def preview(self, latents: Any, linear: Callable[[Any], np.ndarray]) -> np.ndarray | None:
        """TAESD when the budget allows (None between: the last preview stays), else linear."""
        if self.taesd is None:
            return linear(latents)
        if not self.budget.ready():
            return None
        started = time.perf_counter()
        image = decode_rgb(self.taesd, latents)
        self.budget.spent(started, time.perf_counter())
        return image

    def finish(self) -> None:
        """Undoes the per-run changes; starts a compile warm-up for a shape not yet compiled."""
        for undo in reversed(self.restore):
            undo()
        compiled = self.state.compiled
        if compiled is not None:
            if compiled.new_failure:
                compiled.new_failure = False
                self.notes.append(compiled.failure or "")
            compiled.start_warmup()
        dispatcher = self.state.openvino
        if dispatcher is not None and dispatcher.unet.forward is dispatcher:
            self.notes += dispatcher.run_notes()
            if dispatcher.start_warmup():
                self.notes.append(PREPARING)


def prepare_run(
    model: Any,
    pipe: Any,
    options: SpeedOptions,
    device: str,
    *,
    request: Any = None,
    loras: str = "",
    on_download: Callable | None = None,
    cancel: threading.Event | None = None,
) -> SpeedRun:
    """Applies `options` to `pipe` for one run (the engine calls `finish` after the run).
    `loras`: this run's applied LoRAs as A1111's "name: hash, …" (an LCM-LoRA gets a note)."""
    state: SpeedState = model.__dict__.setdefault("speed", SpeedState())
    run = SpeedRun(state)
    user_vae = getattr(request, "vae", None)
    run.notes += few_step_lora_note(request, loras)
    unet = pipe.unet
    _set_attention(state, unet, options.sdpa)
    _set_channels_last(state, pipe, options.channels_last)
    if options.step_cache:
        _enable_step_cache(run, pipe)
    elif options.openvino and _use_openvino(run, unet, device):
        pass
    elif options.compile or options.cuda_graphs:
        _use_compiled(run, unet, options, device)
    elif isinstance(getattr(unet, "forward", None), (CompiledUNet, OpenVinoUNet)):
        del unet.forward  # compile/OpenVINO switched off: the class's own forward again
    _use_fp16_fix(run, model, pipe, user_vae)
    if options.preview == "taesd" or options.fast_decode:
        run.taesd = _taesd(run, model, pipe, device, on_download, cancel)
    if options.fast_decode and run.taesd is not None:
        own_vae = pipe.vae
        pipe.register_modules(vae=run.taesd)
        run.restore.append(lambda: pipe.register_modules(vae=own_vae))
        run.facts["fast_decode"] = APPROXIMATE
        run.notes.append("Fast decode: the image was decoded with TAESD (approximate).")
    if options.preview != "taesd":
        run.taesd = None  # loaded for the decode only: previews stay linear
    return run


def few_step_lora_note(request: Any, loras: str) -> list[str]:
    """An LCM/Hyper/Lightning LoRA run far from its steps/CFG: say what it is made for."""
    from .few_step import lora_preset

    names = [item.split(":")[0].strip() for item in loras.split(",") if item.strip()]
    preset = lora_preset(names)
    steps, cfg = getattr(request, "steps", None), getattr(request, "guidance", None)
    if preset is None or steps is None or cfg is None:
        return []
    if steps <= 2 * preset.steps and cfg <= preset.cfg + 1.5:
        return []
    return [
        f"{preset.why[0].upper()}{preset.why[1:]}: it is made for {preset.steps} steps, CFG "
        f"{preset.cfg:g} and the {preset.sampler} sampler (this run: {steps} steps, CFG {cfg:g})."
    ]


def _set_attention(state: SpeedState, unet: Any, sdpa: bool) -> None:
    if state.sdpa == sdpa:
        return
    from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

    unet.set_attn_processor(AttnProcessor2_0() if sdpa else AttnProcessor())
    state.sdpa = sdpa


def _set_channels_last(state: SpeedState, pipe: Any, on: bool) -> None:
    if state.channels_last == on:
        return
    import torch

    layout = torch.channels_last if on else torch.contiguous_format
    pipe.unet.to(memory_format=layout)
    pipe.vae.to(memory_format=layout)
    state.channels_last = on
    if state.compiled is not None:  # compiled for the other layout: warm up afresh
        state.compiled.wait()
        state.compiled = None


def _use_compiled(run: SpeedRun, unet: Any, options: SpeedOptions, device: str) -> None:
    state = run.state
    mode = "reduce-overhead" if options.cuda_graphs else None
    if options.cuda_graphs and device != "cuda":
        run.notes.append("CUDA graphs need an NVIDIA GPU; torch.compile alone is used.")
        mode = None
    current = state.compiled
    if current is None or current.mode != mode or current.unet is not unet:
        if current is not None:
            current.wait()  # never two compiles of one UNet at once
        state.compiled = CompiledUNet(unet, mode, options.compile_backend)
    if unet.forward is not state.compiled:
        unet.forward = state.compiled
    if state.compiled.failure is not None and state.compiled.new_failure:
        state.compiled.new_failure = False
        run.notes.append(state.compiled.failure)


def _use_openvino(run: SpeedRun, unet: Any, device: str) -> bool:
    """Installs the OpenVINO dispatcher; False (with a note) when torch runs the UNet instead."""
    dispatcher, note = use_openvino(run.state.openvino, unet, device)
    run.state.openvino = dispatcher
    if note is not None:
        run.notes.append(note)
        if isinstance(getattr(unet, "forward", None), OpenVinoUNet):
            del unet.forward
        return False
    unet.forward = dispatcher
    return True


OPENVINO_WAIT = "OpenVINO UNet: converting it (one-off, minutes for SD 1.5) or reading its cache…"


def warm_openvino(model: Any, device: str) -> list[str]:
    """For the CLI (one image, then exit): the OpenVINO UNet ready before the first run rather
    than in the background after it. Returns notes (why it will not be used)."""
    state: SpeedState = model.__dict__.setdefault("speed", SpeedState())
    unet = next(iter(model.pipelines.values())).unet  # one UNet, shared by every mode
    state.openvino, note = use_openvino(state.openvino, unet, device)
    if note is not None:
        return [note]
    state.openvino.start_warmup()
    state.openvino.wait()
    failure = state.openvino.failure
    if failure is None:
        return []
    state.openvino.said.add(failure)  # told now: the image's own notes leave it out
    return [f"OpenVINO UNet: not used ({failure}); PyTorch runs it."]


def _enable_step_cache(run: SpeedRun, pipe: Any) -> None:
    try:
        from DeepCache import DeepCacheSDHelper
    except ImportError:
        run.notes.append("DeepCache is not installed (pip install brushwork[deepcache]).")
        return
    unet = pipe.unet
    if isinstance(getattr(unet, "forward", None), (CompiledUNet, OpenVinoUNet)):
        del unet.forward  # DeepCache wraps the UNet's blocks: not together with compile
    helper = DeepCacheSDHelper(pipe=pipe)
    helper.set_params(cache_interval=STEP_CACHE_INTERVAL, cache_branch_id=0)
    helper.enable()
    run.restore.append(helper.disable)
    run.facts["step_cache"] = f"DeepCache every {STEP_CACHE_INTERVAL} (approximate)"
    run.notes.append(
        f"Step cache (DeepCache): the full UNet ran every {STEP_CACHE_INTERVAL}rd step "
        "(approximate)."
    )


def _taesd(
    run: SpeedRun,
    model: Any,
    pipe: Any,
    device: str,
    on_download: Callable | None,
    cancel: threading.Event | None,
) -> Any:
    """The model's TAESD, loaded once; None (with a note) when it cannot be had."""
    state = run.state
    if state.taesd is None and state.taesd_failure is None:
        from .models import SourceKind

        source = model.source
        folder = Path(source.location) if source.kind is SourceKind.FOLDER else None
        is_sdxl = "XL" in type(pipe).__name__
        dtype = next(pipe.unet.parameters()).dtype
        try:
            if local_taesd(folder) is None and not _sd_latents(pipe):
                raise ModelError(
                    "TAESD is made for SD/SDXL latents (4 channels, 8× smaller); this model's "
                    "VAE differs and ships no taesd/ of its own."
                )
            state.taesd = load_taesd(folder, is_sdxl, device, dtype, on_download, cancel)
        except Cancelled:
            raise
        except BrushworkError as exc:
            state.taesd_failure = str(exc)
    if state.taesd is None:
        run.notes.append(f"{state.taesd_failure} Linear previews and the full VAE were used.")
    return state.taesd


def _use_fp16_fix(run: SpeedRun, model: Any, pipe: Any, user_vae: str | None) -> None:
    folder = fp16_fix_vae(model, pipe.vae.dtype, user_vae)
    if folder is None:
        return
    if run.state.fp16_vae is None:
        from .vae import load_vae

        run.state.fp16_vae = load_vae(folder, pipe.vae)
    own_vae = pipe.vae
    pipe.register_modules(vae=run.state.fp16_vae)
    run.restore.append(lambda: pipe.register_modules(vae=own_vae))
    run.facts["vae_name"] = "sdxl-vae-fp16-fix"


def _sd_latents(pipe: Any) -> bool:
    vae = getattr(pipe, "vae", None)
    channels = getattr(getattr(vae, "config", None), "latent_channels", None)
    return getattr(pipe, "vae_scale_factor", None) == 8 and channels == 4


def fp16_fix_vae(model: Any, dtype: Any, user_vae: str | None) -> str | None:
    """SDXL's VAE overflows in fp16 (NaN → the engine decodes again in fp32). When the user has
    `madebyollin/sdxl-vae-fp16-fix` in the HF cache, use it instead: same images, no second
    decode. Returns its folder, or None to keep the model's VAE and today's fallback."""
    import torch
    from huggingface_hub import try_to_load_from_cache

    pipe = next(iter(model.pipelines.values()))
    if user_vae or dtype != torch.float16 or "XL" not in type(pipe).__name__:
        return None
    found = try_to_load_from_cache("madebyollin/sdxl-vae-fp16-fix", "config.json")
    if not isinstance(found, str):
        return None
    folder = Path(found).parent
    return str(folder) if any(folder.glob("*.safetensors")) else None
