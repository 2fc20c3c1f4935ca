"""Cost of one per-step preview: x0 read-back plus linear latent→RGB projection, on this CPU.

Prints milliseconds per preview for the latent sizes of 512² (64×64×4), 1024² SDXL (128×128×4)
and the bundled 64² model (8×8×4). Run: python3 bench/preview_cost.py
"""

from __future__ import annotations

import platform
import time

import torch

from pipeline.preview import SD1_FACTORS, LatentRGB, track_x0
from pipeline.samplers import make_scheduler

SD_SCHEDULER = {
    "_class_name": "PNDMScheduler",
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
}


def per_call_ms(fn, repeats: int = 200) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats * 1000


def main() -> None:
    torch.set_num_threads(1)
    projection = LatentRGB(SD1_FACTORS)
    print(f"CPU: {platform.processor() or platform.machine()}, torch {torch.__version__}, 1 thread")
    print(f"{'latents':>12} {'projection':>11} {'x0 (VP formula)':>16} {'x0 (from step)':>15}")
    for side in (8, 64, 128):
        latents = torch.randn(1, 4, side, side)
        rows = [per_call_ms(lambda latents=latents: projection.project(latents[0]))]
        for sampler in ("dpmpp_2m", "euler"):
            scheduler = make_scheduler(sampler, SD_SCHEDULER)
            read = track_x0(scheduler)
            scheduler.set_timesteps(30)
            scheduler.scale_model_input(latents, scheduler.timesteps[0])
            scheduler.step(torch.randn_like(latents), scheduler.timesteps[0], latents)
            rows.append(per_call_ms(read))
        print(f"{f'{side}×{side}×4':>12} {rows[0]:>9.3f}ms {rows[1]:>14.3f}ms {rows[2]:>13.3f}ms")


if __name__ == "__main__":
    main()
