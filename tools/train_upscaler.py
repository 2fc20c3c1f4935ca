"""Trains the bundled ×4 upscaler: a small Real-ESRGAN "compact" network (SRVGGNetCompact) for
the bundled model's domain, rendered shapes, in CPU minutes.

    nice -n 15 python tools/train_upscaler.py --minutes 24 \
        --out resources/upscalers/brushwork-shapes-x4.safetensors
    (add --resume FILE to continue an earlier run's weights in a further run; the shipped
    weights' two runs are in resources/upscalers/README.md)

Pairs come from tools/shapes_dataset.py's renderer: the same scene rendered at 64² (input,
mildly blurred and noised like a decoded generation) and at 256² (target). The saved state dict
has SRVGGNetCompact's exact key layout, so spandrel (and any app using it) loads the file.
`--evaluate FILE` only measures a saved model: PSNR, edge sharpness and grid (pixel-shuffle
checkerboard) strength against bicubic on held-out scenes (another seed, including the
colour/shape/position triples held out of training), at 64→256 and 64→512.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from shapes_dataset import render, sample_scene

from pipeline.spandrel_import import import_spandrel

SCALE = 4
LR, HR = 64, 64 * SCALE
PATCH = 16  # LR px of a training crop; crops are centred near a shape, where the edges are


def make_model(feat: int, convs: int) -> torch.nn.Module:
    import_spandrel()
    from spandrel.architectures.Compact import Compact

    return Compact(num_in_ch=3, num_out_ch=3, num_feat=feat, num_conv=convs, upscale=SCALE)


def degrade(image: Image.Image, rng: random.Random) -> np.ndarray:
    """A 64² render made to look like a decoded generation: a little soft, a little noisy."""
    sigma = rng.uniform(0.0, 0.7)
    if sigma > 0.15:
        image = image.filter(ImageFilter.GaussianBlur(sigma))
    pixels = np.asarray(image).astype(np.float32)
    pixels += np.random.default_rng(rng.randrange(2**32)).normal(0, rng.uniform(0, 3), pixels.shape)
    return np.clip(pixels, 0, 255).round().astype(np.uint8)


def make_pairs(
    count: int, seed: int, held_out: bool, high_size: int = HR
) -> tuple[np.ndarray, np.ndarray, list]:
    rng = random.Random(seed)
    lows, highs, scenes = [], [], []
    for _ in range(count):
        scene = sample_scene(rng, include_held_out=held_out)
        lows.append(degrade(render(scene, LR), rng))
        highs.append(np.asarray(render(scene, high_size)))
        scenes.append(scene)
    return np.stack(lows), np.stack(highs), scenes


def icnr_(model: torch.nn.Module) -> None:
    """ICNR init of the last convolution: the SCALE² channels that pixel shuffle spreads over one
    output block start with the same kernel, so the first residual is smooth within each block.
    With independent random kernels every block starts as a fixed 4×4 pattern that training must
    undo sub-pixel by sub-pixel; the first shipped model (385 steps) still showed it as a grid."""
    last = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    out_channels = last.out_channels // SCALE**2
    with torch.no_grad():
        kernel = torch.empty(out_channels, *last.weight.shape[1:])
        torch.nn.init.kaiming_normal_(kernel)
        # small: the network starts close to its nearest-neighbour base, not far from it
        last.weight.copy_(0.1 * kernel.repeat_interleave(SCALE**2, dim=0))
        last.bias.zero_()


def gradients(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]


def sr_loss(
    out: torch.Tensor, target: torch.Tensor, edge_weight: float, step_weight: float
) -> torch.Tensor:
    """MSE on pixels plus two terms on neighbour differences. MSE on them rewards steep edges
    where the target has them. Charbonnier (≈ L1) on them punishes small steps where it has
    none: squared errors barely see the 1-grey-level steps a model leaves between its 4×4 output
    blocks in flat areas (measured after the first 24-min run: 1.05 levels across block borders,
    0.07 within), while an L1-like term pushes on them as hard as on big errors."""
    (ox, oy), (tx, ty) = gradients(out), gradients(target)
    edges = F.mse_loss(ox, tx) + F.mse_loss(oy, ty)
    steps = _charbonnier(ox - tx) + _charbonnier(oy - ty)
    return F.mse_loss(out, target) + edge_weight * edges + step_weight * steps


def _charbonnier(x: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    return torch.sqrt(x * x + eps * eps).mean()


def to_tensor(pixels: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255


def crops(lows, highs, scenes, batch: int, rng: random.Random) -> tuple[torch.Tensor, ...]:
    """Random LR crops (and the matching HR crops), most of them around a shape's edge; the rest
    anywhere, so that flat background is seen often enough to learn to smooth its noise (with
    edge crops only, the first runs kept the input noise as visible 4×4 blocks)."""
    xs, ys = [], []
    for _ in range(batch):
        i = rng.randrange(len(lows))
        shape = rng.choice(scenes[i].shapes)
        cx, cy = shape.cx + rng.uniform(-12, 12), shape.cy + rng.uniform(-12, 12)
        if rng.random() < 0.3:
            cx, cy = rng.uniform(0, LR), rng.uniform(0, LR)
        x0 = int(min(max(cx - PATCH / 2, 0), LR - PATCH))
        y0 = int(min(max(cy - PATCH / 2, 0), LR - PATCH))
        low = lows[i, y0 : y0 + PATCH, x0 : x0 + PATCH]
        high = highs[i, y0 * SCALE : (y0 + PATCH) * SCALE, x0 * SCALE : (x0 + PATCH) * SCALE]
        k = rng.randrange(4)  # rotations: shapes have no preferred orientation at the pixel level
        xs.append(np.rot90(low, k).copy())
        ys.append(np.rot90(high, k).copy())
    return to_tensor(np.stack(xs)), to_tensor(np.stack(ys))


def train(args: argparse.Namespace) -> torch.nn.Module:
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    started = time.monotonic()
    lows, highs, scenes = make_pairs(args.scenes, args.seed, held_out=False)
    print(f"{len(lows)} training pairs in {time.monotonic() - started:.0f} s", flush=True)
    model = make_model(args.feat, args.convs)
    if args.resume is not None:  # runs are capped at 25 min: a later run continues an earlier one
        from safetensors.torch import load_file

        model.load_state_dict(load_file(args.resume))
    else:
        icnr_(model)
    optimiser = torch.optim.Adam(model.parameters(), lr=args.lr)
    # MSE, not L1: most target pixels equal the nearest-neighbour base the network adds to its
    # output, and L1's constant-size gradient drove the residual to zero everywhere (measured:
    # after 286 steps the output was nearest-neighbour to 1e-4 grey levels).
    budget = args.minutes * 60
    step = 0
    while time.monotonic() - started < budget and step < args.steps:
        if time.monotonic() - started > 0.8 * budget:  # a low-rate finish settles the weights
            for group in optimiser.param_groups:
                group["lr"] = args.lr / 10
        x, y = crops(lows, highs, scenes, args.batch, rng)
        loss = sr_loss(model(x), y, args.edge_weight, args.step_weight)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        step += 1
        if step % 500 == 0:
            elapsed = time.monotonic() - started
            print(f"step {step} loss {loss.item():.4f} {elapsed / 60:.1f} min", flush=True)
    print(f"trained {step} steps in {(time.monotonic() - started) / 60:.1f} min", flush=True)
    return model.eval()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255**2 / max(mse, 1e-10)))


def gradient(pixels: np.ndarray) -> np.ndarray:
    grey = pixels.astype(np.float32).mean(axis=2)
    gx = np.zeros_like(grey)
    gy = np.zeros_like(grey)
    gx[:, 1:-1] = (grey[:, 2:] - grey[:, :-2]) / 2
    gy[1:-1] = (grey[2:] - grey[:-2]) / 2
    return np.hypot(gx, gy)


def edge_gradients(output: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """Summed gradient of `output` and of the truth on the truth's edge pixels. Their ratio over
    a test set is the edge sharpness: 1.0 is as crisp as the render, a blurred upscale spreads
    each step over more pixels and scores lower."""
    truth_grad = gradient(truth)
    edges = truth_grad > 20
    return float(gradient(output)[edges].sum()), float(truth_grad[edges].sum())


def grid_strength(pixels: np.ndarray, block: int = SCALE) -> float:
    """How much more the image steps across the borders of the model's output blocks than inside
    them, in grey levels: mean |difference| of neighbours that straddle a border minus that of
    neighbours within a block (columns and rows). About 0 for a picture without a grid (edges
    fall anywhere); nearest neighbour and a pixel-shuffle checkerboard score above 0.
    (A ratio of the two misleads: a model that smooths the inside of blocks flat makes it large
    with steps too small to see.)"""
    grey = pixels.astype(np.float32).mean(axis=2)
    dx, dy = np.abs(np.diff(grey, axis=1)), np.abs(np.diff(grey, axis=0))
    across = (np.arange(dx.shape[1]) % block) == block - 1
    excess_x = dx[:, across].mean() - dx[:, ~across].mean()
    excess_y = dy[across].mean() - dy[~across].mean()
    return float((excess_x + excess_y) / 2)


def evaluate(model_path: Path, count: int = 60, seed: int = 10_000) -> dict[str, dict]:
    """Held-out figures at 64→256 (one model pass) and 64→512 (two passes, Lanczos down)."""
    from pipeline.upscale import load_upscaler

    upscaler = load_upscaler(model_path)
    return {f"{LR}->{size}": _evaluate_at(upscaler, size, count, seed) for size in (HR, 2 * HR)}


def _evaluate_at(upscaler, size: int, count: int, seed: int) -> dict[str, float]:
    lows, highs, _ = make_pairs(count, seed, held_out=True, high_size=size)
    figures: dict[str, list[float]] = {
        k: [] for k in ("psnr", "bicubic_psnr", "grid", "bicubic_grid", "truth_grid")
    }
    block = size // LR  # the first pass's blocks, at the output size
    edges = np.zeros(3)  # model, bicubic, truth
    seconds = 0.0
    for low, high in zip(lows, highs, strict=True):
        started = time.monotonic()
        out = upscaler.upscale(low, size // LR)
        seconds += time.monotonic() - started
        bicubic = np.asarray(Image.fromarray(low).resize((size, size), Image.BICUBIC))
        figures["psnr"].append(psnr(out, high))
        figures["bicubic_psnr"].append(psnr(bicubic, high))
        figures["grid"].append(grid_strength(out, block))
        figures["bicubic_grid"].append(grid_strength(bicubic, block))
        figures["truth_grid"].append(grid_strength(high, block))
        (model_sum, truth_sum), (bicubic_sum, _) = (
            edge_gradients(out, high),
            edge_gradients(bicubic, high),
        )
        edges += (model_sum, bicubic_sum, truth_sum)
    return {
        "psnr": round(float(np.mean(figures["psnr"])), 2),
        "bicubic_psnr": round(float(np.mean(figures["bicubic_psnr"])), 2),
        "sharpness": round(float(edges[0] / edges[2]), 3),
        "bicubic_sharpness": round(float(edges[1] / edges[2]), 3),
        **{k: round(float(np.mean(figures[k])), 3) for k in ("grid", "bicubic_grid", "truth_grid")},
        "seconds_per_image": round(seconds / count, 3),
    }


def save(model: torch.nn.Module, path: Path) -> None:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(path), metadata={"brushwork": "shapes x4 upscaler (SRVGGNetCompact)"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/brushwork-shapes-x4.safetensors"))
    parser.add_argument("--minutes", type=float, default=12)
    parser.add_argument("--steps", type=int, default=10**9)
    parser.add_argument("--scenes", type=int, default=800)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--feat", type=int, default=32)
    parser.add_argument("--convs", type=int, default=8)
    parser.add_argument("--edge-weight", type=float, default=4.0)
    parser.add_argument("--step-weight", type=float, default=0.1)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--resume", type=Path, default=None, help="continue from these weights")
    parser.add_argument("--evaluate", type=Path, default=None, help="only measure this model")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.evaluate is None:
        save(train(args), args.out)
        print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")
    print(json.dumps(evaluate(args.evaluate or args.out)))


if __name__ == "__main__":
    main()
