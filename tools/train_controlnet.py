"""Train a small scribble ControlNet for Brushwork's bundled model, on CPU, reproducibly.

The ControlNet is `ControlNetModel.from_unet` of the bundled UNet: its down and mid blocks start
as copies of the UNet's, its zero convolutions at zero, so at step 0 it changes nothing. Two
things differ from the UNet and are trained from their seeded init: the input conv (the UNet's
is 17×17 with centred input, a ControlNet's is always 3×3) and the conditioning embedding, which
downsamples 4× here (three channel widths) because the bundled VAE's latents are 4× smaller
than the image, not 8× as in SD.

Data: the shapes dataset (tools/shapes_dataset.py, held-out colour × shape × position triples
never drawn). Conditioning = white strokes on black: the shape's outline or a rough, jittered
scribble of it, drawn with Pillow. Captions drop the position words most of the time, so the
position has to come from the scribble. Loss: v-prediction MSE with the UNet, text encoder and
VAE frozen; 10% empty captions (classifier-free guidance keeps working).

    nice -n 15 python tools/train_controlnet.py --minutes 22      # the shipped model
    python tools/train_controlnet.py --steps 20 --pool 64 --out /tmp/cn   # smoke
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch
from diffusers import ControlNetModel, DDPMScheduler, StableDiffusionPipeline
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent))
import shapes_dataset as ds

REPO = Path(__file__).resolve().parent.parent
BUNDLED = REPO / "resources" / "models" / "brushwork-shapes"
DEFAULT_OUT = REPO / "resources" / "controlnets" / "brushwork-shapes-scribble"
CONDITIONING_CHANNELS = (16, 32, 64)  # two stride-2 convs: 64×64 image → 16×16 latents


def outline_points(spec: ds.ShapeSpec, n_round: int = 24) -> list[tuple[float, float]]:
    """The closed outline of a shape in 64×64 pixel coordinates."""
    if spec.shape in ("circle", "ring"):
        return [
            (spec.cx + spec.radius * math.cos(a), spec.cy + spec.radius * math.sin(a))
            for a in np.linspace(0, 2 * math.pi, n_round, endpoint=False)
        ]
    return ds.shape_polygon(spec.shape, spec.cx, spec.cy, spec.radius)


def scribble(specs: tuple[ds.ShapeSpec, ...], rng: random.Random, rough: bool) -> np.ndarray:
    """White strokes on black, H×W×3 uint8: each shape's outline, or a rough hand-drawn
    version of it (points jittered, stroke width varied, sometimes not quite closed)."""
    size = ds.IMAGE_SIZE * ds.SUPERSAMPLE
    image = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(image)
    for spec in specs:
        points = outline_points(spec)
        if rough:
            wobble = spec.radius * 0.12
            points = [
                (x + rng.uniform(-wobble, wobble), y + rng.uniform(-wobble, wobble))
                for x, y in points
            ]
        scaled = [(x * ds.SUPERSAMPLE, y * ds.SUPERSAMPLE) for x, y in points]
        closed = scaled + scaled[: 1 if not rough or rng.random() < 0.8 else 0]
        width = rng.randint(4, 10) if rough else 6
        draw.line(closed, fill=255, width=width, joint="curve")
        if spec.shape == "ring" and (not rough or rng.random() < 0.7):
            inner = ds.ShapeSpec("circle", "", "", "", spec.cx, spec.cy, spec.radius * 0.55)
            ring = [(x * ds.SUPERSAMPLE, y * ds.SUPERSAMPLE) for x, y in outline_points(inner)]
            draw.line([*ring, ring[0]], fill=255, width=width, joint="curve")
    small = np.asarray(image.resize((ds.IMAGE_SIZE,) * 2, Image.BOX))
    return np.repeat(small[..., None], 3, axis=2)


def caption_without_position(scene: ds.SceneSpec, rng: random.Random, keep: float) -> str:
    """A caption whose position words are kept only with probability `keep`."""
    with_position = rng.random() < keep
    with_size = rng.random() >= 0.25
    body = " and ".join(ds.shape_phrase(s, with_size, with_position) for s in scene.shapes)
    return f"{body}, {scene.background} background"


def build_controlnet(unet) -> ControlNetModel:
    """`from_unet` with the UNet's blocks copied; conv_in stays at its own init (see top)."""
    torch.manual_seed(0)
    controlnet = ControlNetModel.from_unet(
        unet,
        conditioning_embedding_out_channels=CONDITIONING_CHANNELS,
        load_weights_from_unet=False,
    )
    for name in ("time_proj", "time_embedding", "down_blocks", "mid_block"):
        getattr(controlnet, name).load_state_dict(getattr(unet, name).state_dict())
    return controlnet


def encode_pool(pipe, n: int, seed: int) -> tuple[torch.Tensor, list[ds.SceneSpec]]:
    rng = random.Random(seed)
    latents, scenes = [], []
    scale = pipe.vae.config.scaling_factor
    with torch.no_grad():
        for start in range(0, n, 128):
            arr, batch = ds.sample_batch(rng, min(128, n - start))
            x = torch.from_numpy(arr).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)
            latents.append(pipe.vae.encode(x).latent_dist.mean * scale)
            scenes += batch
    return torch.cat(latents), scenes


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--steps", type=int, default=100_000, help="upper bound; --minutes stops first")
    p.add_argument("--minutes", type=float, default=22.0, help="wall-time budget of the loop")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--pool", type=int, default=3000)
    p.add_argument("--keep-position", type=float, default=0.2)
    p.add_argument("--cfg-dropout", type=float, default=0.1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=21)
    p.add_argument(
        "--high-noise",
        type=float,
        default=0.0,
        help="fraction of samples with t in 500-999, where composition is decided",
    )
    p.add_argument("--resume", type=Path, default=None, help="continue from a saved ControlNet")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    started = time.time()
    pipe = StableDiffusionPipeline.from_pretrained(BUNDLED, torch_dtype=torch.float32)
    for module in (pipe.unet, pipe.vae, pipe.text_encoder):
        module.requires_grad_(False).eval()
    latents, scenes = encode_pool(pipe, args.pool, args.seed)
    print(f"[pool] {args.pool} latents in {time.time() - started:.0f}s", flush=True)
    if args.resume is not None:  # a second run continues the first (fp16 weights → fp32)
        controlnet = ControlNetModel.from_pretrained(args.resume, torch_dtype=torch.float32)
    else:
        controlnet = build_controlnet(pipe.unet)
    controlnet.train()
    params = [q for q in controlnet.parameters() if q.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    noise_sched = DDPMScheduler.from_pretrained(BUNDLED / "scheduler")
    rng = random.Random(args.seed + 1)
    gen = torch.Generator().manual_seed(args.seed + 2)
    loop_start, step, shown, losses = time.time(), 0, time.time(), []
    budget = args.minutes * 60
    while step < args.steps and time.time() - loop_start < budget:
        fraction = (time.time() - loop_start) / budget
        for g in opt.param_groups:  # warmup, then cosine decay over the time budget
            g["lr"] = (
                args.lr * min(1.0, (step + 1) / 100) * (0.55 + 0.45 * math.cos(math.pi * fraction))
            )
        idx = [rng.randrange(len(scenes)) for _ in range(args.batch)]
        caps = [
            ""
            if rng.random() < args.cfg_dropout
            else caption_without_position(scenes[i], rng, args.keep_position)
            for i in idx
        ]
        conds = np.stack([scribble(scenes[i].shapes, rng, rough=rng.random() < 0.6) for i in idx])
        control = torch.from_numpy(conds).permute(0, 3, 1, 2).float() / 255.0
        z0 = latents[idx]
        noise = torch.randn(z0.shape, generator=gen)
        t = torch.randint(0, 1000, (len(idx),), generator=gen)
        high = torch.rand(len(idx), generator=gen) < args.high_noise
        t = torch.where(high, 500 + t // 2, t)
        zt = noise_sched.add_noise(z0, noise, t)
        with torch.no_grad():
            tokens = pipe.tokenizer(
                caps,
                padding="max_length",
                truncation=True,
                max_length=pipe.tokenizer.model_max_length,
                return_tensors="pt",
            )
            text = pipe.text_encoder(tokens.input_ids)[0]
        down, mid = controlnet(
            zt, t, encoder_hidden_states=text, controlnet_cond=control, return_dict=False
        )
        pred = pipe.unet(
            zt,
            t,
            encoder_hidden_states=text,
            down_block_additional_residuals=down,
            mid_block_additional_residual=mid,
        ).sample
        loss = (pred - noise_sched.get_velocity(z0, noise, t)).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        losses.append(loss.item())
        step += 1
        if time.time() - shown > 30:
            rate = (time.time() - loop_start) / step
            print(
                f"[controlnet] step {step} loss {np.mean(losses[-50:]):.4f} {rate:.2f}s/step "
                f"{(time.time() - loop_start) / 60:.1f}m",
                flush=True,
            )
            shown = time.time()
    args.out.mkdir(parents=True, exist_ok=True)
    controlnet.to(torch.float16).save_pretrained(args.out, safe_serialization=True)
    meta = {
        "base_model": "brushwork-shapes",
        "steps": step,
        "batch": args.batch,
        "lr": args.lr,
        "pool": args.pool,
        "keep_position": args.keep_position,
        "seed": args.seed,
        "final_loss_50": float(np.mean(losses[-50:])) if losses else None,
        "minutes": round((time.time() - started) / 60, 1),
        "threads": args.threads,
        "high_noise": args.high_noise,
        "resumed_from": str(args.resume) if args.resume else None,
        "conditioning": "white strokes on black: outline (40%) or rough scribble (60%)",
    }
    (args.out / "training_meta.json").write_text(json.dumps(meta, indent=1))
    print(f"[done] {step} steps, saved to {args.out}: {meta}", flush=True)


if __name__ == "__main__":
    main()
