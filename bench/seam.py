"""Seam visibility: plain diffusers inpainting vs Brushwork's paste-back and seam repair.

For each case (init image × mask) and seed, with the same inputs, seed, sampler and steps:

  raw       diffusers' AutoPipelineForInpainting (from_pipe, as the engine derives it) given
            the image and mask as they are; its image as returned (every pixel went through
            the VAE)
  paste     that raw image pasted into the original through the hard mask (a naive app)
  feather   Brushwork's engine with color_correction=False: mask widened to latent cells for
            the model, feathered paste-back
  repaired  Brushwork's engine with its defaults (feathered paste-back + seam repair)

Each is scored with pipeline.seams.seam_metric against the user's mask (lower is better; see
its docstring for the exact definition).

`outside Δ` is the mean absolute change of the pixels outside the mask in the raw output:
what "pasted as is" costs the part of the image the user did not touch (Brushwork: 0 there).

Run: python3 bench/seam.py [--model PATH] [--size 64] [--steps 12] [--seeds 3]
Without --model, the tiny random-weight test model (tests/tiny_model.py) is built in a temp
folder: its "content" is noise, so its figures test the machinery, not picture quality.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's pipeline/, not an installed copy

from pipeline import Engine, GenerationRequest, Mode  # noqa: E402
from pipeline.samplers import make_scheduler  # noqa: E402
from pipeline.seams import seam_metric  # noqa: E402


def images(size: int) -> dict[str, np.ndarray]:
    """Init images with different kinds of texture at the border."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size] / size
    ramp = np.stack([xx * 200 + 30, yy * 200 + 30, np.full_like(xx, 120)], axis=-1)
    blocks = np.where((xx < 0.5)[..., None], [200, 60, 50], [40, 90, 180]).astype(float)
    stripes = np.stack([np.sin(xx * 25) * 60 + 128] * 3, axis=-1) * [1.0, 0.8, 0.6]
    coarse = rng.normal(128, 50, (size // 8, size // 8, 3)).repeat(8, 0).repeat(8, 1)
    cases = {"ramp": ramp, "blocks": blocks, "stripes": stripes, "coarse": coarse}
    return {
        name: np.clip(im + rng.normal(0, 3, im.shape), 0, 255).astype(np.uint8)
        for name, im in cases.items()
    }


def masks(size: int) -> dict[str, np.ndarray]:
    yy, xx = np.mgrid[0:size, 0:size]
    centre = (abs(yy - size / 2) < size / 5) & (abs(xx - size / 2) < size / 5)
    disc = (yy - size * 0.3) ** 2 + (xx - size * 0.7) ** 2 < (size * 0.18) ** 2
    strip = (xx > size * 0.4) & (xx < size * 0.6)
    return {name: np.where(m, 255, 0).astype(np.uint8) for name, m in
            {"square": centre, "disc": disc, "strip": strip}.items()}  # fmt: skip


def raw_inpaint(engine: Engine, request: GenerationRequest) -> np.ndarray:
    """What AutoPipelineForInpainting returns for the request's image and mask, as uint8."""
    import torch
    from PIL import Image

    model = engine.load(request.model)
    request = request.resolved(model.defaults)  # the sampler and CFG the engine would use
    pipe = model.pipeline(Mode.INPAINT)
    pipe.scheduler = make_scheduler(request.sampler, model.scheduler_config)
    with torch.inference_mode():
        out = pipe(
            prompt=request.prompt,
            image=Image.fromarray(request.init_image),
            mask_image=Image.fromarray(request.mask),
            width=request.width,
            height=request.height,
            strength=request.strength,
            num_inference_steps=request.steps,
            guidance_scale=request.guidance,
            generator=torch.Generator("cpu").manual_seed(request.seed),
            output_type="np",
        ).images[0]
    return (np.clip(out, 0, 1) * 255).round().astype(np.uint8)


def scores(engine: Engine, request: GenerationRequest) -> dict[str, float]:
    init, mask = request.init_image, request.mask
    raw = raw_inpaint(engine, request)
    hard = np.where((mask >= 128)[..., None], raw, init)
    feather = engine.run(request.replace(color_correction=False))[0].image
    repaired = engine.run(request)[0].image
    outside = mask < 128
    delta = np.abs(raw.astype(int) - init.astype(int))[outside].mean()
    return {
        "raw": seam_metric(raw, mask),
        "paste": seam_metric(hard, mask),
        "feather": seam_metric(feather, mask),
        "repaired": seam_metric(repaired, mask),
        "outside Δ": float(delta),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None, help="diffusers folder (default: tiny model)")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--prompt", default="a red circle on a blue background")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="seam-bench-") as scratch:
        model = args.model or str(_tiny_model(Path(scratch)))
        engine = Engine(Path(scratch) / "outputs", device="cpu")
        report(engine, model, args)


def report(engine: Engine, model: str, args: argparse.Namespace) -> None:
    columns = ["raw", "paste", "feather", "repaired", "outside Δ"]
    print(f"model {Path(model).name}, {args.size}², {args.steps} steps, seeds 0..{args.seeds - 1}")
    print(f"{'case':16}" + "".join(f"{c:>11}" for c in columns), flush=True)
    totals: list[dict[str, float]] = []
    for image_name, init in images(args.size).items():
        for mask_name, mask in masks(args.size).items():
            rows = []
            for seed in range(args.seeds):
                request = GenerationRequest(
                    prompt=args.prompt, mode="inpaint", init_image=init, mask=mask,
                    width=args.size, height=args.size, steps=args.steps, seed=seed,
                    strength=1.0, model=model,
                )  # fmt: skip
                rows.append(scores(engine, request))
            mean = {c: float(np.mean([r[c] for r in rows])) for c in columns}
            totals.extend(rows)
            name = f"{image_name}/{mask_name}"
            print(f"{name:16}" + "".join(f"{mean[c]:11.2f}" for c in columns), flush=True)
    overall = {c: float(np.mean([r[c] for r in totals])) for c in columns}
    print(f"{'mean':16}" + "".join(f"{overall[c]:11.2f}" for c in columns))
    better = sum(r["repaired"] <= r["paste"] for r in totals)
    print(f"repaired ≤ paste in {better} of {len(totals)} runs")


def _tiny_model(scratch: Path) -> Path:
    from tests.tiny_model import save_tiny_model

    return save_tiny_model(scratch / "tiny-sd")


if __name__ == "__main__":
    main()
