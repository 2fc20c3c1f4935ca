"""Shared parts of the example LoRA and embedding trainers (tools/train_lora.py,
tools/train_embedding.py): their common options, the bundled model, latents, the diffusion
loss and a time budget.

The loss is the bundled model's own recipe (tools/train_bundled_model.py): v-prediction, offset
noise 0.2, 10% empty captions, so what the extras learn is denoised the same way the base model
was trained to denoise. Its min-SNR-5 weighting is optional: both trainers default to the plain
v loss, which drew the new concepts more often (measured: resources/extras/README.md).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import shapes_dataset as ds

REPO = Path(__file__).resolve().parent.parent
BUNDLED = REPO / "resources" / "models" / "brushwork-shapes"
EXTRAS = REPO / "resources" / "extras"
OFFSET_NOISE = 0.2
MIN_SNR = 5.0
CFG_DROPOUT = 0.1


def arguments(doc: str, out: Path, steps: int, lr: float, pool: int, seed: int):
    """The options both trainers take; each adds its own and sets its defaults here."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=out)
    p.add_argument("--steps", type=int, default=steps)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=lr)
    p.add_argument("--pool", type=int, default=pool, help="training pictures drawn up front")
    p.add_argument("--minutes", type=float, default=24.0, help="wall-time budget")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=seed)
    p.add_argument("--init", type=Path, default=None, help="continue from this file")
    return p


def start(args: argparse.Namespace):
    """Threads and seeds as asked, then the bundled model (frozen)."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    return load_bundled()


def encode_pool(pipe, scenes: list, palette: dict, started: float) -> torch.Tensor:
    """Render and encode the training pictures once, in chunks (memory stays small)."""
    latents = torch.cat([encode(pipe.vae, render_all(scenes[i : i + 250], palette))
                         for i in range(0, len(scenes), 250)])  # fmt: skip
    print(f"[pool] {len(scenes)} latents in {time.time() - started:.0f}s", flush=True)
    return latents


def training_record(args: argparse.Namespace, budget: Budget, steps_done: int) -> str:
    """The run's options and what it did, for the file's metadata (reproducible by hand)."""
    record = {k: str(v) for k, v in vars(args).items()}
    return json.dumps({**record, "steps_done": steps_done,
                       "minutes": round(budget.elapsed() / 60, 1),
                       "paused_minutes": round(budget.paused / 60, 1)})  # fmt: skip


def load_bundled(model_dir: Path = BUNDLED):
    """The bundled model in float32 on the CPU, every weight frozen."""
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(
        str(model_dir), dtype=torch.float32, safety_checker=None
    )
    pipe.set_progress_bar_config(disable=True)
    for module in (pipe.unet, pipe.vae, pipe.text_encoder):
        module.requires_grad_(False)
    return pipe


@torch.no_grad()
def encode(vae, images: np.ndarray) -> torch.Tensor:
    """uint8 (n, 64, 64, 3) → scaled latents, as the pipeline's img2img encodes them."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1
    return vae.encode(x).latent_dist.mean * vae.config.scaling_factor


def render_all(scenes: list, palette: dict) -> np.ndarray:
    return np.stack([np.asarray(ds.render(s, palette=palette)) for s in scenes])


def tokenize(tok, texts: list[str]) -> torch.Tensor:
    """The pipeline's own preprocessing: pad to the model's length, truncate."""
    return tok(
        texts, padding="max_length", max_length=tok.model_max_length, truncation=True,
        return_tensors="pt",
    ).input_ids  # fmt: skip


class DiffusionLoss:
    """The bundled model's training loss for a batch of latents and captions."""

    def __init__(self, pipe, seed: int, min_snr: bool = True) -> None:
        from diffusers import DDPMScheduler

        self.pipe = pipe
        self.sched = DDPMScheduler.from_config(pipe.scheduler.config)
        alphas = self.sched.alphas_cumprod
        snr = alphas / (1 - alphas)
        self.v_pred = self.sched.config.prediction_type == "v_prediction"
        # plain v (or ε) loss unless min_snr: min-SNR gives the noisiest steps, where the layout
        # (position, background) is decided, a weight of about their SNR (0.005 at t=999)
        min_snr_weights = torch.clamp(snr, max=MIN_SNR) / (snr + 1 if self.v_pred else snr)
        self.weights = min_snr_weights if min_snr else torch.ones_like(snr)
        self.gen = torch.Generator().manual_seed(seed)

    def __call__(self, z0: torch.Tensor, captions: list[str]) -> torch.Tensor:
        noise = torch.randn(z0.shape, generator=self.gen)
        noise = noise + OFFSET_NOISE * torch.randn((*z0.shape[:2], 1, 1), generator=self.gen)
        t = torch.randint(0, self.sched.config.num_train_timesteps, (len(z0),), generator=self.gen)
        zt = self.sched.add_noise(z0, noise, t)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            cond = self.pipe.text_encoder(tokenize(self.pipe.tokenizer, captions))[0]
            pred = self.pipe.unet(zt, t, encoder_hidden_states=cond).sample
        target = self.sched.get_velocity(z0, noise, t) if self.v_pred else noise
        per = (pred.float() - target).pow(2).mean(dim=(1, 2, 3))
        return (per * self.weights[t]).mean()


def drop_caption(rng: random.Random, caption: str) -> str:
    """Empty caption 10% of the time, so classifier-free guidance keeps working."""
    return "" if rng.random() < CFG_DROPOUT else caption


def lr_at(step: int, total: int, peak: float) -> float:
    """Short linear warmup, cosine decay to 10% of peak."""
    warmup = max(1, total // 20)
    if step < warmup:
        return peak * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))


PAUSED_STEP = 60.0  # seconds: a step this long means the process was stopped, not working


class Budget:
    """Prints progress with an ETA and says when the wall-time budget is used up.

    Time the process spends stopped (SIGSTOP: the shared machine's users pause background
    jobs while they time something) is not counted: a step that took over PAUSED_STEP s counts
    as none. `paused` says how much was left out."""

    def __init__(self, name: str, steps: int, minutes: float) -> None:
        self.name, self.steps, self.limit = name, steps, minutes * 60
        self.start = self.last = time.monotonic()
        self.paused = 0.0
        self.loss = 0.0

    def elapsed(self) -> float:
        return time.monotonic() - self.start - self.paused

    def tick(self, step: int, loss: float) -> bool:
        """Records a step; True when training must stop (time budget)."""
        now = time.monotonic()
        if now - self.last > PAUSED_STEP:
            self.paused += now - self.last
        self.last = now
        self.loss = 0.95 * self.loss + 0.05 * loss if step else loss
        done = step + 1
        if done % 50 == 0 or done == self.steps:
            eta = self.elapsed() / done * (self.steps - done)
            print(f"[{self.name}] {done}/{self.steps} loss {self.loss:.4f} "
                  f"{self.elapsed() / 60:.1f} min, eta {eta / 60:.1f} min", flush=True)  # fmt: skip
        if self.elapsed() > self.limit and done < self.steps:
            print(f"[{self.name}] time budget reached after {done} steps", flush=True)
            return True
        return False
