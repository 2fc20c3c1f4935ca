"""Engine overhead: a plain diffusers pipeline call vs Brushwork's engine with per-step previews.

Same model (the bundled one), prompt, seed, sampler, steps and torch thread count; the two are
run alternately (a, b, a, b…) and the ratio of their median times is reported, with a check that
the images are bit-identical. (a) is the pipeline the engine itself loaded, called the way a
diffusers user would (scheduler built once, CPU generator, output_type="np"); (b) is
`Engine.run` with previews on and a step callback that receives them, as the GUI's worker does,
including writing the PNG with its metadata.

The bundled UNet is tiny, so per-step overhead shows most at 64²; 128² (32×32 latents, a UNet
step ~4× bigger) shows it against a heavier step; dpm2 is there because its scheduler is
the slowest to build. Also times building each sampler's scheduler,
which the engine does once per run.

Run: python3 bench/engine_overhead.py [--repeats 9] [--write]
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
# (size, sampler): the tiny step shows overhead most; dpm2's scheduler is the slowest to build.
CASES = ((64, SAMPLER), (64, "dpm2"), (128, SAMPLER))


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


def compare(engine, size: int, sampler: str, repeats: int) -> tuple[dict, bool, int]:
    """Wall/CPU times of plain, plain again (the noise floor) and engine runs, whether the plain
    and engine images are identical, and how many previews the last engine run delivered."""
    import diffusers

    from pipeline import GenerationRequest, Mode, get_sampler

    model = engine.load(None)
    pipe = model.pipeline(Mode.TXT2IMG)
    request = GenerationRequest(
        prompt=PROMPT, sampler=sampler, steps=STEPS, guidance=CFG, seed=7, width=size, height=size
    )
    previews: list[np.ndarray] = []
    entry = get_sampler(sampler)  # a diffusers user builds the scheduler once, by hand
    scheduler_cls = getattr(diffusers, entry.scheduler)
    plain_scheduler = scheduler_cls.from_config(model.scheduler_config, **entry.options)

    def plain() -> np.ndarray:
        pipe.scheduler = plain_scheduler  # the engine swaps its own in; a diffusers user would not
        return plain_call(pipe, size, request.seed)

    def brushwork() -> np.ndarray:
        previews.clear()
        return engine.run(request, on_step=lambda u: previews.append(u.preview))[0].image

    same = bool(np.array_equal(plain(), brushwork()))
    times = interleaved({"plain": plain, "again": plain, "engine": brushwork}, repeats)
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
    args = cli.parse_args()
    from pipeline import Engine

    with tempfile.TemporaryDirectory() as out, torch_threads(1), LoadTracker() as load:
        engine = Engine(Path(out), device="cpu")
        rows = []
        for size, sampler in CASES:
            times, same, shown = compare(engine, size, sampler, args.repeats)
            wall = {k: median_ms(v["wall"]) for k, v in times.items()}
            cpu = {k: min(v["cpu"]) * 1000 for k, v in times.items()}  # noise only adds
            rows.append((
                f"{size}×{size} {sampler}", f"{wall['plain']:.1f}", f"{wall['engine']:.1f}",
                f"{wall['engine'] / wall['plain']:.3f}", f"{cpu['plain']:.1f}",
                f"{cpu['engine']:.1f}", f"{cpu['engine'] / cpu['plain']:.3f}",
                f"{cpu['again'] / cpu['plain']:.3f}", "yes" if same else "NO", f"{shown}",
            ))  # fmt: skip
        builds = scheduler_build_ms(engine.model.scheduler_config)
    head = ("run", "plain wall", "engine wall", "ratio", "plain CPU", "engine CPU", "ratio",
            "A/A CPU", "identical", "previews")  # fmt: skip
    slow = [f"{name} {ms:.1f}" for name, ms in builds if ms >= 1.0]
    body = "\n".join([
        f"`python3 bench/engine_overhead.py` — {header(load, threads=1)}",
        "",
        f"Bundled model, {STEPS} steps, CFG {CFG}, 1 torch thread, times in ms, "
        f"{args.repeats} interleaved runs each; wall = median, CPU = minimum of this process's "
        "CPU time (other jobs on the shared cores only ever add to it). Target: ratio ≤ 1.02 "
        "and identical images. A/A = a second plain run against the first: the noise floor "
        "of the ratios. previews = previews the step callback received in the last engine run.",
        "",
        "```", table(rows, head), "```",
        "",
        "Scheduler build per run (ms, mean of 5): "
        + (", ".join(slow) if slow else "every sampler under 1 ms"),
    ])  # fmt: skip
    report(TITLE, body, args.write)


if __name__ == "__main__":
    main()
