"""Engine overhead: a plain diffusers pipeline call vs Brushwork's engine with per-step previews.

Same model (the bundled one), prompt, seed, sampler, steps and torch thread count; the two are
run alternately (a, b, a, b…) and the ratio of their median times is reported, with a check that
the images are bit-identical. (a) is the pipeline the engine itself loaded, called the way a
diffusers user would (scheduler built once, CPU generator, output_type="np"); (b) is
`Engine.run` with previews on and a step callback that receives them, as the GUI's worker does,
including writing the PNG with its metadata.

The bundled UNet is tiny, so per-step overhead shows most at 64²; 128² (32×32 latents, a UNet
step ~4× bigger) shows it against a heavier step. Also times building each sampler's scheduler,
which the engine does once per run.

Run: python3 bench/engine_overhead.py [--repeats 9] [--sizes 64 128] [--write]
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import common  # noqa: F401  (puts this checkout first on sys.path)
import numpy as np
from common import (
    CFG,
    PROMPT,
    SAMPLER,
    STEPS,
    LoadTracker,
    header,
    interleaved,
    median_ms,
    parser,
    report,
    table,
    torch_threads,
)

TITLE = "Engine overhead"


def plain_call(pipe, size: int, seed: int) -> np.ndarray:
    import torch

    with torch.inference_mode():
        images = pipe(
            prompt=PROMPT,
            num_inference_steps=STEPS,
            guidance_scale=CFG,
            width=size,
            height=size,
            generator=[torch.Generator("cpu").manual_seed(seed)],
            output_type="np",
        ).images
    return (np.clip(images, 0.0, 1.0) * 255.0).round().astype(np.uint8)[0]


def compare(engine, size: int, repeats: int) -> tuple[dict, bool, int]:
    """Wall/CPU times of plain and engine runs, whether their images are identical, and how
    many previews the last engine run delivered."""
    from pipeline import GenerationRequest, Mode
    from pipeline.samplers import make_scheduler

    model = engine.load(None)
    pipe = model.pipeline(Mode.TXT2IMG)
    request = GenerationRequest(
        prompt=PROMPT, sampler=SAMPLER, steps=STEPS, guidance=CFG, seed=7, width=size, height=size
    )
    previews: list[np.ndarray] = []
    plain_scheduler = make_scheduler(SAMPLER, model.scheduler_config)

    def plain() -> np.ndarray:
        pipe.scheduler = plain_scheduler  # the engine swaps its own in; a diffusers user would not
        return plain_call(pipe, size, request.seed)

    def brushwork() -> np.ndarray:
        previews.clear()
        return engine.run(request, on_step=lambda u: previews.append(u.preview))[0].image

    same = bool(np.array_equal(plain(), brushwork()))
    times = interleaved({"plain": plain, "engine": brushwork}, repeats)
    shown = sum(p is not None for p in previews)
    return times, same, shown


def scheduler_build_ms(config) -> list[tuple[str, float]]:
    from pipeline import SAMPLERS
    from pipeline.samplers import make_scheduler

    rows = []
    for sampler in SAMPLERS:
        make_scheduler(sampler.id, config)  # first build may fill caches
        start = time.perf_counter()
        for _ in range(5):
            make_scheduler(sampler.id, config)
        rows.append((sampler.id, (time.perf_counter() - start) / 5 * 1000))
    return rows


def main() -> None:
    cli = parser(__doc__.split("\n")[0])
    cli.add_argument("--repeats", type=int, default=9)
    cli.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    args = cli.parse_args()
    from pipeline import Engine

    with tempfile.TemporaryDirectory() as out, torch_threads(1), LoadTracker() as load:
        engine = Engine(Path(out), device="cpu")
        rows = []
        for size in args.sizes:
            times, same, shown = compare(engine, size, args.repeats)
            row = [f"{size}×{size}"]
            for clock in ("wall", "cpu"):
                plain_ms, engine_ms = (median_ms(times[k][clock]) for k in ("plain", "engine"))
                row += [f"{plain_ms:.1f}", f"{engine_ms:.1f}", f"{engine_ms / plain_ms:.3f}"]
            row += [f"{(engine_ms - plain_ms) / STEPS:+.2f}", "yes" if same else "NO",
                    f"{shown}/{STEPS}"]  # fmt: skip
            rows.append(row)
        builds = scheduler_build_ms(engine.model.scheduler_config)
    head = ("size", "plain wall", "engine wall", "ratio", "plain CPU", "engine CPU", "ratio",
            "CPU Δ ms/step", "identical", "previews")  # fmt: skip
    slow = [f"{name} {ms:.1f}" for name, ms in builds if ms >= 1.0]
    body = "\n".join([
        f"`python3 bench/engine_overhead.py` — {header(load, threads=1)}",
        "",
        f"Bundled model, {SAMPLER} {STEPS} steps, CFG {CFG}, 1 torch thread, times in ms, "
        f"median of {args.repeats} interleaved runs each. Target: ratio ≤ 1.02 and identical "
        "images.",
        "",
        "```", table(rows, head), "```",
        "",
        "Scheduler build per run (ms, mean of 5): "
        + (", ".join(slow) if slow else "every sampler under 1 ms"),
    ])  # fmt: skip
    report(TITLE, body, args.write)


if __name__ == "__main__":
    main()
