"""GPU check: SD 1.5 (512²) and SDXL (1024²) architectures, fp16, random weights: plain diffusers
vs Brushwork's default vs each fast-path option (Settings → Speed) vs all of them, images
compared with the eager default (PSNR, target ≥ 35 dB), after the app's own
`--self-test --device cuda` with a random-weight SD 1.5 single file.

Speed does not depend on the weights, so the published architectures are built with random
weights on the GPU (no download). The Brushwork runs go through `Engine.run` with the options
set as the Settings dialog sets them; compile options are timed after their background warm-up
(its duration is the "compile s" column: the goal is ≤ 60 s with a warm inductor cache).
it/s = 1 / median gap between step callbacks (CUDA synchronised), after a warm-up run.
A time budget (--budget, default 300 s for the rows, shared between the architectures, after
the self-test) skips what no longer fits, so the script ends within 8 minutes; skipped rows say
so, and each row is printed to stderr as it is measured (a run stopped early still leaves
them). `--tiny` runs the same flow on CPU with tiny models (a smoke test of this script, run by
tests/test_gpu_check_smoke.py); its figures mean nothing.

Run: bash bench/gpu_check.sh   (= python3 bench/gpu_check.py --write)
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import common  # noqa: F401  (puts this checkout first on sys.path)
import numpy as np
from common import ROOT, LoadTracker, header, parser, report, table
from gpu_sd15 import PROMPT, SCHEDULER, SD15_TEXT, SD15_UNET, SD15_VAE, TINY_TEXT, TINY_UNET
from gpu_sd15 import TINY_VAE as TINY_SD15_VAE

TITLE = "GPU check"
SDXL_UNET = dict(
    sample_size=128, in_channels=4, out_channels=4, layers_per_block=2,
    block_out_channels=(320, 640, 1280), cross_attention_dim=2048,
    attention_head_dim=(5, 10, 20), transformer_layers_per_block=(1, 2, 10),
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=256,
    projection_class_embeddings_input_dim=2816,
)  # fmt: skip
SDXL_VAE = dict(SD15_VAE, sample_size=1024, scaling_factor=0.13025, force_upcast=True)
SDXL_TEXT_2 = dict(hidden_size=1280, intermediate_size=5120, num_attention_heads=20,
                   num_hidden_layers=32, max_position_embeddings=77, hidden_act="gelu",
                   projection_dim=1280)  # fmt: skip
TINY_SDXL_UNET = dict(SDXL_UNET, block_out_channels=(32, 64, 64), cross_attention_dim=64 + 96,
                      attention_head_dim=(2, 4, 4), transformer_layers_per_block=(1, 1, 1),
                      layers_per_block=1, addition_time_embed_dim=8,
                      projection_class_embeddings_input_dim=96 + 6 * 8)  # fmt: skip
TINY_TEXT_2 = dict(SDXL_TEXT_2, hidden_size=96, intermediate_size=128, num_attention_heads=4,
                   num_hidden_layers=2, projection_dim=96)  # fmt: skip
# name → Settings → Speed values; each alone, then all exact ones together.
# Ordered so that a tight time budget drops the least telling rows: the cheap ones first, then
# compile (the fast path the goals are about), then the other compiled variants.
OPTIONS: dict[str, dict[str, Any]] = {
    "channels_last": {"channels_last": True},
    "taesd decode (approx.)": {"fast_decode": True},
    "deepcache (approx.)": {"step_cache": True},
    "compile": {"compile": True},
    "all exact": {"channels_last": True, "compile": True, "cuda_graphs": True},
    "cuda graphs": {"compile": True, "cuda_graphs": True},
}
CLIP_VOCAB = 49408  # the real tokenizer's size: single files load with the shipped SD 1.5 configs


@dataclass
class Arch:
    name: str
    size: int
    sdxl: bool


def build(arch: Arch, tiny: bool, device: str, dtype: Any, scratch: Path) -> Any:
    """A pipeline of the architecture with random weights, made on `device`."""
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionPipeline,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from tests.tiny_model import build_tokenizer

    tokenizer = build_tokenizer(scratch / "vocab")
    ids = dict(  # full size: the real vocabulary, as a single file's shipped config expects
        vocab_size=len(tokenizer) if tiny else CLIP_VOCAB, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    text_1 = TINY_TEXT if tiny else SD15_TEXT
    torch.manual_seed(0)
    with torch.device(device):  # initialise on the GPU: minutes faster for SDXL's 3.5 G weights
        if arch.sdxl:
            text = dict(TINY_TEXT, hidden_size=64) if tiny else SD15_TEXT
            pipe = StableDiffusionXLPipeline(
                vae=AutoencoderKL(**(dict(TINY_SD15_VAE, force_upcast=True) if tiny else SDXL_VAE)),
                text_encoder=CLIPTextModel(CLIPTextConfig(**ids, **text)),
                text_encoder_2=CLIPTextModelWithProjection(
                    CLIPTextConfig(**ids, **(TINY_TEXT_2 if tiny else SDXL_TEXT_2))),
                tokenizer=tokenizer, tokenizer_2=tokenizer,
                unet=UNet2DConditionModel(**(TINY_SDXL_UNET if tiny else SDXL_UNET)),
                scheduler=EulerDiscreteScheduler(**SCHEDULER),
            )  # fmt: skip
        else:
            pipe = StableDiffusionPipeline(
                vae=AutoencoderKL(**(TINY_SD15_VAE if tiny else SD15_VAE)),
                text_encoder=CLIPTextModel(CLIPTextConfig(**ids, **text_1)),
                tokenizer=tokenizer,
                unet=UNet2DConditionModel(**(TINY_UNET if tiny else SD15_UNET)),
                scheduler=EulerDiscreteScheduler(**SCHEDULER), safety_checker=None,
                feature_extractor=None, requires_safety_checker=False,
            )  # fmt: skip
    pipe.to(device=device, dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


class Rows(list):
    """Rows that are also printed (stderr) as they come: a run stopped by its time limit still
    leaves every figure it measured in the log."""

    def append(self, row: tuple) -> None:
        print("gpu_check:", " | ".join(map(str, row)), file=sys.stderr, flush=True)
        super().append(row)


class Clock:
    """Step timestamps (CUDA synchronised) → it/s from the median gap."""

    def __init__(self, device: str) -> None:
        self.device, self.stamps = device, []

    def tick(self, *_args: Any) -> Any:
        if self.device == "cuda":
            import torch

            torch.cuda.synchronize()
        self.stamps.append(time.perf_counter())
        return _args[-1] if len(_args) == 4 else None  # diffusers' callback_on_step_end

    def its(self) -> float:
        gaps = [b - a for a, b in zip(self.stamps, self.stamps[1:], strict=False)]
        return 1.0 / statistics.median(gaps) if gaps else float("nan")


def live_rows(engine: Any, request: Any, deadline: float) -> list[tuple]:
    """Live's job on this model, back to back: results/s, default and with TAESD decode."""
    from pipeline import Mode
    from pipeline.speed import SpeedOptions

    size = request.width
    strength, lcm_steps = 0.6, 4
    init = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    live = request.replace(mode=Mode.IMG2IMG, init_image=init, strength=strength,
                           steps=math.ceil(lcm_steps / strength - 1e-9), sampler="lcm",
                           guidance=1.0)  # fmt: skip
    rows = Rows()
    for name, options in (
        ("live, 4 LCM steps", SpeedOptions()),
        ("live, 4 LCM steps + taesd decode", SpeedOptions(fast_decode=True)),
    ):
        if time.perf_counter() > deadline:
            rows.append((name, "skipped", "(time budget)"))
            continue
        engine.speed = options
        engine.run(live, save=False)  # warm-up; Live results are not saved (gui/worker.py)
        done, started = 0, time.perf_counter()
        while done < 20 and (done < 3 or time.perf_counter() - started < 20):
            engine.run(live, save=False)
            done += 1
        seconds = (time.perf_counter() - started) / done
        rows.append((name, f"{1 / seconds:.2f}", f"{seconds * 1000:.0f}"))
    return rows


def dynamo_counters(label: str) -> None:
    """Prints what dynamo did for a compiled row (graphs, breaks, recompiles, eager fallbacks):
    a compiled row whose image equals eager's bit for bit ran eagerly somewhere, and these
    counters say where (the first H200 run's CUDA graphs row did)."""
    from torch._dynamo.utils import counters

    summary = {group: dict(values) for group, values in counters.items() if values}
    print(f"gpu_check: dynamo counters, {label}: {json.dumps(summary, default=str)[:2000]}",
          file=sys.stderr, flush=True)  # fmt: skip
    counters.clear()


def check_arch(
    arch: Arch, args: Any, deadline: float, scratch: Path
) -> tuple[list[tuple], list[tuple]]:
    import torch
    from diffusers import AutoencoderTiny, EulerDiscreteScheduler

    from pipeline import Engine, GenerationRequest
    from pipeline.engine import LoadedModel
    from pipeline.models import parse_model_source
    from pipeline.speed import SpeedOptions

    device = args.device
    dtype = torch.float16 if device == "cuda" else torch.float32
    size = 64 if args.tiny else arch.size
    pipe = build(arch, args.tiny, device, dtype, scratch / arch.name)
    folder = scratch / arch.name / "model"  # an index only: the engine takes the built pipeline
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model_index.json").write_text(json.dumps({"_class_name": type(pipe).__name__}))
    torch.manual_seed(0)  # a random TAESD of the published layout (tiny: narrower) for its rows
    narrow = dict(encoder_block_out_channels=(8,) * 4, decoder_block_out_channels=(8,) * 4)
    AutoencoderTiny(**(narrow if args.tiny else {})).save_pretrained(folder / "taesd")
    engine = Engine(
        scratch / "out", device=device, precision="fp16" if device == "cuda" else "fp32"
    )
    engine.model = LoadedModel(parse_model_source(str(folder)), pipe)
    request = GenerationRequest(model=str(folder), prompt=PROMPT, sampler="euler", steps=args.steps,
                                guidance=7.5, seed=0, width=size, height=size)  # fmt: skip

    def plain() -> tuple[float, np.ndarray]:
        pipe.scheduler = EulerDiscreteScheduler(**SCHEDULER)
        clock = Clock(device)
        with torch.inference_mode():
            images = pipe(PROMPT, num_inference_steps=args.steps, guidance_scale=7.5, width=size,
                          height=size, generator=torch.Generator("cpu").manual_seed(0),
                          callback_on_step_end=clock.tick, output_type="np").images  # fmt: skip
        return clock.its(), (np.clip(images[0], 0, 1) * 255).round().astype(np.uint8)

    def brushwork(options: SpeedOptions) -> tuple[float, np.ndarray, float]:
        engine.speed = options
        clock = Clock(device)
        started = time.perf_counter()
        image = engine.run(request, on_step=clock.tick)[0].image
        return clock.its(), image, time.perf_counter() - started

    plain()  # warm-up (cuDNN autotune, allocator)
    base_its, _ = plain()
    rows = Rows()
    rows.append((arch.name, "plain diffusers", f"{base_its:.2f}", "1.00", "", ""))
    brushwork(SpeedOptions())
    ours, reference, _ = brushwork(SpeedOptions())
    rows.append((arch.name, "brushwork default", f"{ours:.2f}", f"{ours / base_its:.2f}",
                 "reference", ""))  # fmt: skip
    # Live before the options: the time budget must not starve it.
    live = [] if arch.sdxl or "live" in args.skip else live_rows(engine, request, deadline)
    for name, values in OPTIONS.items():
        if name in args.skip:
            continue
        if time.perf_counter() > deadline:
            rows.append((arch.name, name, "skipped", "(time budget)", "", ""))
            continue
        options = SpeedOptions(compile_backend=args.backend, **values)
        try:
            compile_s = ""
            _its, _image, first = brushwork(options)  # eager; starts the warm-up when compiling
            compiled = getattr(engine.model.__dict__.get("speed"), "compiled", None)
            if options.compile and compiled is not None:
                started = time.perf_counter()
                compiled.wait(max(deadline - time.perf_counter(), 1))
                compile_s = f"{time.perf_counter() - started + first:.0f}"
            its, image, _ = brushwork(options)
            if options.compile and compiled is not None:
                if compiled.failure:  # the warm-up failed, or it fell back during the timed run
                    raise RuntimeError(compiled.failure)
                if compiled.compiled_calls == 0:
                    raise RuntimeError("the compiled UNet was never called (eager throughout)")
            quality = psnr(image, reference)
            rows.append((arch.name, name, f"{its:.2f}", f"{its / base_its:.2f}",
                         "identical" if quality == math.inf else f"{quality:.1f}",
                         compile_s))  # fmt: skip
        except Exception as exc:  # an option that fails here is a result too
            rows.append((arch.name, name, "failed", f"{type(exc).__name__}: {str(exc)[:70]}", "",
                         ""))  # fmt: skip
        finally:
            if options.compile:
                dynamo_counters(f"{arch.name} {name}")
                torch._dynamo.reset()  # the next option compiles afresh, not from this cache
                engine.model.__dict__["speed"].compiled = None
    engine.speed = SpeedOptions()
    engine.run(request)  # puts the plain forward back before the pipeline is freed
    engine.model = None
    if device == "cuda":
        torch.cuda.empty_cache()
    return rows, live


def self_test(args: Any, scratch: Path, deadline: float) -> tuple[str, str]:
    """The app's own --self-test with a random-weight SD 1.5 single file (LDM layout)."""
    import torch

    from tests.ldm_checkpoint import save_ldm_checkpoint

    if time.perf_counter() > deadline:
        return "skipped", "time budget"
    dtype = torch.float32 if args.tiny else torch.float16
    pipe = build(Arch("sd15", 512, False), args.tiny, args.device, dtype, scratch / "selftest")
    folder = scratch / "selftest" / "folder"
    pipe.save_pretrained(folder, safe_serialization=True)
    del pipe
    checkpoint = save_ldm_checkpoint(folder, scratch / "selftest" / "sd15-random.safetensors")
    # Single files load with the shipped SD 1.5 configs, which a tiny model does not fit: the
    # smoke run gives the self-test the tiny model's folder instead.
    model = folder if args.tiny else checkpoint
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    command = [sys.executable, "-m", "gui", "--self-test", "--device", args.device,
               "--model", str(model)]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=max(deadline - time.perf_counter(), 60))  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    verdict = "passed" if done.returncode == 0 else f"FAILED (exit {done.returncode})"
    if done.returncode != 0:
        print(done.stdout[-3000:], done.stderr[-3000:], file=sys.stderr)
    # The app prints its failure on stderr: the row should name it, not the banner line.
    failed = [line for line in (done.stdout + done.stderr).splitlines() if "FAILED" in line]
    return verdict, (failed or lines or [done.stderr.strip()[-200:]])[-1]


def main() -> None:
    cli = parser(__doc__.split("\n")[0])
    cli.add_argument("--device", default=None, help="default: cuda (cpu with --tiny)")
    cli.add_argument("--steps", type=int, default=20)
    cli.add_argument("--budget", type=float, default=300.0, help="seconds for all rows")
    cli.add_argument("--tiny", action="store_true", help="tiny models on CPU: a smoke test")
    cli.add_argument("--backend", default="inductor", help="torch.compile backend")
    cli.add_argument("--skip", nargs="*", default=[], help="option rows to leave out")
    cli.add_argument("--arch", nargs="*", default=["sd15", "sdxl"])
    cli.add_argument("--json", action="store_true")
    args = cli.parse_args()
    args.device = args.device or ("cpu" if args.tiny else "cuda")
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: no CUDA device here; use --tiny for the CPU smoke test", file=sys.stderr)
        raise SystemExit(2)
    archs = [a for a in (Arch("sd15", 512, False), Arch("sdxl", 1024, True)) if a.name in args.arch]
    rows: list[tuple] = []
    live: list[tuple] = []
    with tempfile.TemporaryDirectory() as tmp, LoadTracker() as load:
        # The pass/fail self-test first: the rows' time budget must not starve it.
        started = time.perf_counter()
        verdict, line = self_test(args, Path(tmp), started + args.budget)
        print(f"gpu_check: self-test {verdict} — {line}", file=sys.stderr, flush=True)
        deadline = time.perf_counter() + args.budget
        for index, arch in enumerate(archs):  # each architecture gets its share of what is left
            now = time.perf_counter()
            share = now + (deadline - now) / (len(archs) - index)
            arch_rows, arch_live = check_arch(arch, args, share, Path(tmp))
            rows += arch_rows
            live += arch_live
    machine = torch.cuda.get_device_name() if args.device == "cuda" else "CPU (tiny smoke run)"
    size_text = "64² tiny" if args.tiny else "512²"
    if args.json:
        print(json.dumps({"machine": machine, "rows": rows, "live": live,
                          "self_test": [verdict, line]}))  # fmt: skip
    body = "\n".join([
        f"`bash bench/gpu_check.sh{' --tiny' if args.tiny else ''}` — **{machine}**; "
        f"{header(load)}",
        "",
        f"{'TINY smoke models' if args.tiny else 'Random-weight SD 1.5 (512²) and SDXL (1024²)'}"
        f", {'fp32' if args.tiny else 'fp16'}, {args.steps} Euler steps, CFG 7.5. it/s from the "
        "median step; PSNR of the image against Brushwork's eager default (target ≥ 35 dB); "
        "compile s = eager first run + background warm-up.",
        "",
        "```",
        table(rows, ("model", "run", "it/s", "vs plain", "PSNR dB", "compile s")),
        "```",
        "",
        f"Live (SD 1.5 architecture, {size_text}, img2img strength 0.6, 4 LCM steps run, CFG 1; "
        "back-to-back jobs):",
        "",
        "```",
        table(live or [("not run", "", "")], ("run", "results/s", "ms per result")),
        "```",
        "",
        f"Self-test (`--self-test --device {args.device}`, random-weight SD 1.5 single file): "
        f"{verdict} — {line}",
    ])  # fmt: skip
    report(TITLE, body, args.write)


if __name__ == "__main__":
    main()
