"""SD 1.5 on a GPU: plain diffusers it/s vs Brushwork it/s with previews, and speed-up options.

The SD 1.5 architecture is built from its published component configs with RANDOM weights
(speed does not depend on the weights; no download), with a byte-level tokenizer
(tests/tiny_model.py), saved as a diffusers folder so the engine loads it through its real path.
At 512×512, fp16, 30 steps (Euler), CFG 7.5, it measures (it/s = UNet steps per second, from the
median gap between step callbacks, after a warm-up run):

  plain          diffusers' pipeline call as a user would make it (SDPA attention, the default)
  brushwork      Engine.run with per-step previews
  classic attn   plain, with the pre-SDPA attention processor (what SDPA buys)
  channels_last  plain, UNet in channels_last memory format
  compile        plain, torch.compile(unet) (default mode)
  cuda graphs    plain, torch.compile(unet, mode="reduce-overhead") (CUDA graphs)

Each option is measured alone against `plain`; one that fails is reported with its error.
`--tiny` builds a small UNet/VAE/text encoder instead and runs on any device (a smoke check of
this script on CPU: `python3 bench/gpu_sd15.py --tiny --device cpu`); its figures mean nothing.

Run: python3 bench/gpu_sd15.py [--device cuda] [--steps 30] [--write]
"""

from __future__ import annotations

import itertools
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import common  # noqa: F401  (puts this checkout first on sys.path)
from common import LoadTracker, header, parser, report, table

TITLE = "SD 1.5 on a GPU"
# Published SD 1.5 component configs (runwayml/stable-diffusion-v1-5 unet/vae/text_encoder).
SD15_UNET = dict(
    sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
    block_out_channels=(320, 640, 1280, 1280), cross_attention_dim=768, attention_head_dim=8,
    down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
    up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
)  # fmt: skip
SD15_VAE = dict(
    sample_size=512, in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2,
    block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4, scaling_factor=0.18215,
)  # fmt: skip
SD15_TEXT = dict(hidden_size=768, intermediate_size=3072, num_attention_heads=12,
                 num_hidden_layers=12, max_position_embeddings=77,
                 hidden_act="quick_gelu")  # fmt: skip
TINY_UNET = dict(SD15_UNET, block_out_channels=(32, 64, 64, 64), layers_per_block=1,
                 cross_attention_dim=64, attention_head_dim=4)  # fmt: skip
TINY_VAE = dict(SD15_VAE, block_out_channels=(8, 16, 16, 16), layers_per_block=1,
                norm_num_groups=8)  # fmt: skip
TINY_TEXT = dict(SD15_TEXT, hidden_size=64, intermediate_size=128, num_attention_heads=4,
                 num_hidden_layers=2)  # fmt: skip
SCHEDULER = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                 num_train_timesteps=1000, steps_offset=1)  # fmt: skip
PROMPT = "a photograph of an astronaut riding a horse"


def build_folder(folder: Path, tiny: bool) -> Path:
    """Saves an SD 1.5-architecture pipeline with random weights as a diffusers folder."""
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    from tests.tiny_model import build_tokenizer

    tokenizer = build_tokenizer(folder / "_vocab")
    torch.manual_seed(0)
    text = TINY_TEXT if tiny else SD15_TEXT
    pipe = StableDiffusionPipeline(
        vae=AutoencoderKL(**(TINY_VAE if tiny else SD15_VAE)),
        text_encoder=CLIPTextModel(CLIPTextConfig(
            vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, **text)),
        tokenizer=tokenizer,
        unet=UNet2DConditionModel(**(TINY_UNET if tiny else SD15_UNET)),
        scheduler=EulerDiscreteScheduler(**SCHEDULER),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )  # fmt: skip
    pipe.save_pretrained(folder / "sd15-random", safe_serialization=True)
    return folder / "sd15-random"


def its_per_second(call: Callable[[Callable], Any], device: str) -> float:
    """Runs `call(callback)` twice (warm-up, then measured); UNet steps per second."""
    import torch

    stamps: list[float] = []

    def callback(*_args: Any) -> Any:
        if device == "cuda":
            torch.cuda.synchronize()
        stamps.append(time.perf_counter())
        return _args[-1] if len(_args) == 4 else None

    call(callback)
    stamps.clear()
    call(callback)
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    return 1.0 / statistics.median(gaps)


def plain_runner(pipe: Any, size: int, steps: int) -> Callable[[Callable], Any]:
    import torch

    def run(callback: Callable) -> Any:
        generator = torch.Generator("cpu").manual_seed(0)
        with torch.inference_mode():
            return pipe(PROMPT, num_inference_steps=steps, guidance_scale=7.5, width=size,
                        height=size, generator=generator, callback_on_step_end=callback,
                        output_type="np")  # fmt: skip

    return run


def options(pipe: Any) -> dict[str, tuple[Callable[[], None], Callable[[], None]]]:
    """name → (apply, undo), each applied alone to the plain pipeline's UNet."""
    import torch
    from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

    unet = pipe.unet
    original_forward = unet.forward

    def compiled(mode: str | None) -> Callable[[], None]:
        def apply() -> None:
            torch._dynamo.reset()
            unet.forward = torch.compile(original_forward, mode=mode, fullgraph=False)

        return apply

    def uncompile() -> None:
        unet.forward = original_forward
        torch._dynamo.reset()

    return {
        "classic attn": (lambda: unet.set_attn_processor(AttnProcessor()),
                         lambda: unet.set_attn_processor(AttnProcessor2_0())),
        "channels_last": (lambda: unet.to(memory_format=torch.channels_last),
                          lambda: unet.to(memory_format=torch.contiguous_format)),
        "compile": (compiled(None), uncompile),
        "cuda graphs": (compiled("reduce-overhead"), uncompile),
    }  # fmt: skip


def main() -> None:
    cli = parser(__doc__.split("\n")[0])
    cli.add_argument("--device", default="cuda")
    cli.add_argument("--steps", type=int, default=30)
    cli.add_argument("--size", type=int, default=512)
    cli.add_argument("--tiny", action="store_true", help="small random model: a smoke check")
    cli.add_argument("--skip", nargs="*", default=[], help="options to leave out")
    args = cli.parse_args()
    import torch

    from pipeline import Engine, GenerationRequest, Mode

    dtype = torch.float16 if args.device == "cuda" else torch.float32
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp, LoadTracker() as load:
        folder = build_folder(Path(tmp), args.tiny)
        engine = Engine(Path(tmp) / "out", device=args.device,
                        precision="fp16" if dtype == torch.float16 else "fp32")  # fmt: skip
        model = engine.load(str(folder))
        request = GenerationRequest(
            prompt=PROMPT, sampler="euler", steps=args.steps, guidance=7.5, seed=0,
            width=args.size, height=args.size,
        )  # fmt: skip

        def brushwork(callback: Callable) -> Any:
            return engine.run(request, on_step=lambda update: callback(update))

        pipe = model.pipeline(Mode.TXT2IMG)
        plain = its_per_second(plain_runner(pipe, args.size, args.steps), args.device)
        rows.append(("plain diffusers", f"{plain:.2f}", "1.00"))
        ours = its_per_second(brushwork, args.device)
        rows.append(("brushwork + previews", f"{ours:.2f}", f"{ours / plain:.2f}"))
        for name, (apply, undo) in options(pipe).items():
            if name in args.skip:
                continue
            try:
                apply()
                speed = its_per_second(plain_runner(pipe, args.size, args.steps), args.device)
                rows.append((name, f"{speed:.2f}", f"{speed / plain:.2f}"))
            except Exception as exc:  # an option that does not work here is a result too
                rows.append((name, "failed", f"{type(exc).__name__}: {str(exc)[:60]}"))
            finally:
                undo()
    gpu = torch.cuda.get_device_name() if args.device == "cuda" else args.device
    body = "\n".join([
        f"`python3 bench/gpu_sd15.py{' --tiny' if args.tiny else ''}` — {gpu}; {header(load)}",
        "",
        f"{'TINY smoke model' if args.tiny else 'SD 1.5 architecture, random weights'}, "
        f"{args.size}², {dtype}, {args.steps} Euler steps, CFG 7.5; it/s from the median step.",
        "",
        "```", table(rows, ("run", "it/s", "vs plain")), "```",
    ])  # fmt: skip
    report(TITLE, body, args.write)


if __name__ == "__main__":
    main()
