"""CPU fast path: SD 1.5 at 512², 1 step, CFG 0 (how SD-Turbo runs; same architecture):
plain diffusers with its full VAE vs Brushwork with TAESD fast decode. Target: Brushwork
≤ 8 s per image and ≥ 3× plain.

The SD 1.5 architecture with RANDOM weights (speed does not depend on them; no download) and a
random-weight TAESD of the published layout in the folder's `taesd/` (pipeline/taesd.py reads
it from there), saved once as a diffusers folder so the engine loads it through its real path.
Both runs use the same loaded weights: plain = the engine's own diffusers pipeline called as a
user would (full VAE), brushwork = Engine.run with Settings → Speed → Fast decode (and its
per-step preview). torch threads = physical cores. Runs are interleaved; medians are reported.

`--openvino` adds Brushwork with Settings → Speed → OpenVINO UNet (pipeline/openvino_unet.py,
TAESD fast decode too) in OpenVINO's default precision (bf16 on AMX CPUs) and with its f32 hint,
prints the one-off conversion (wall and CPU s, IR size), and the ratio vs Brushwork's torch
path (fp32, and bf16 with --bf16). Keep rule (issue #20): ≥ 1.5× over the torch path.
`--tiny` runs the same flow with tiny models (a smoke check; its figures mean nothing).

Run: python3 bench/cpu_fast.py [--repeats 3] [--openvino] [--json] [--write]
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import common  # noqa: F401  (puts this checkout first on sys.path)
from common import LoadTracker, header, parser, report, table

TITLE = "CPU fast path"
PROMPT = "a photograph of an astronaut riding a horse"


def build(folder: Path, tiny: bool) -> Path:
    import torch
    from diffusers import AutoencoderTiny
    from gpu_sd15 import build_folder

    model = build_folder(folder, tiny)
    torch.manual_seed(0)
    small = dict(encoder_block_out_channels=(8,) * 4, decoder_block_out_channels=(8,) * 4)
    AutoencoderTiny(**(small if tiny else {})).save_pretrained(model / "taesd")
    return model


def timed(fn: Any) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def timed_cpu(fn: Any) -> tuple[float, float]:
    """(wall s, CPU s of this process): on a shared machine CPU s / threads approximates the
    wall time of an idle one (other jobs only add wall time)."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def openvino_setup(engine: Any, pipe: Any, cache: Path) -> dict[str, Any]:
    """Brushwork's OpenVINO UNet on the engine's loaded model, its IR cached under `cache` (a
    temporary folder: the conversion is timed every time, nothing is left in the user's
    cache). Returns the conversion's figures (the one-off cost)."""
    from pipeline.openvino_unet import IRCache, OpenVinoUNet, available
    from pipeline.speed import SpeedState, warm_openvino

    if not available():
        return {"error": "openvino is not installed (pip install brushwork[openvino])"}
    state = engine.model.__dict__.setdefault("speed", SpeedState())
    state.openvino = OpenVinoUNet(pipe.unet, IRCache(cache))
    wall, cpu = timed_cpu(lambda: warm_openvino(engine.model, "cpu"))
    dispatcher = state.openvino
    if dispatcher.compiled is None:
        return {"error": f"OpenVINO UNet not used: {dispatcher.failure}"}
    size = sum(f.stat().st_size for f in cache.rglob("*") if f.is_file())
    precision = dispatcher.compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
    return {"convert_wall_s": wall, "convert_cpu_s": cpu, "ir_bytes": size,
            "precision": precision, "dispatcher": dispatcher}  # fmt: skip


def openvino_f32(dispatcher: Any) -> None:
    """The same IR compiled with OpenVINO's f32 hint (exact; no second conversion)."""
    from pipeline.openvino_unet import model_key, openvino

    model = dispatcher.cache.load(model_key(dispatcher.unet))
    hint = {"INFERENCE_PRECISION_HINT": "f32"}
    dispatcher.compiled = openvino().Core().compile_model(model, "CPU", hint)


def main() -> None:
    cli = parser(__doc__.split("\n")[0])
    cli.add_argument("--repeats", type=int, default=3)
    cli.add_argument("--size", type=int, default=512)
    cli.add_argument("--steps", type=int, default=1, help="1 (SD-Turbo); 4 for LCM-style")
    cli.add_argument("--tiny", action="store_true", help="small random models: a smoke check")
    cli.add_argument("--openvino", action="store_true", help="also time the UNet in OpenVINO")
    cli.add_argument("--json", action="store_true", help="print the figures as JSON")
    cli.add_argument("--bf16", action="store_true", help="also Brushwork in bf16 (AMX CPUs)")
    args = cli.parse_args()
    import torch

    from pipeline import Engine, GenerationRequest, Mode
    from pipeline.speed import SpeedOptions, configure_threads

    threads = configure_threads("cpu")
    size = 64 if args.tiny else args.size
    with tempfile.TemporaryDirectory() as tmp, LoadTracker() as load:
        folder = build(Path(tmp), args.tiny)
        engine = Engine(Path(tmp) / "out", device="cpu", speed=SpeedOptions(fast_decode=True))
        pipe = engine.load(str(folder)).pipeline(Mode.TXT2IMG)
        request = GenerationRequest(
            model=str(folder), prompt=PROMPT, sampler="euler_a", steps=args.steps, guidance=0.0,
            seed=0, width=size, height=size,
        )  # fmt: skip

        def plain() -> Any:
            with torch.inference_mode():
                return pipe(PROMPT, num_inference_steps=args.steps, guidance_scale=0.0, width=size,
                            height=size, generator=torch.Generator("cpu").manual_seed(0),
                            output_type="np").images  # fmt: skip

        def brushwork() -> Any:
            return engine.run(request, on_step=lambda _update: None)

        runs = {"plain": plain, "brushwork": brushwork}
        if args.bf16:  # a second engine on the same folder, bf16 weights (AMX/AVX512-BF16 CPUs)
            bf16 = Engine(Path(tmp) / "out", device="cpu", precision="bf16",
                          speed=SpeedOptions(fast_decode=True))  # fmt: skip
            runs["brushwork bf16"] = lambda: bf16.run(request, on_step=lambda _update: None)
        ov: dict[str, Any] = {}
        if args.openvino:
            ov = openvino_setup(engine, pipe, Path(tmp) / "openvino")
        if "dispatcher" in ov:
            with_ov = SpeedOptions(fast_decode=True, openvino=True)

            def openvino_run(precision: str) -> Any:
                if precision == "f32" and "f32" not in ov:
                    openvino_f32(ov["dispatcher"])
                    ov["f32"] = True
                engine.speed = with_ov
                try:
                    return engine.run(request, on_step=lambda _update: None)
                finally:  # plain() calls the pipe itself: the torch forward back for it
                    engine.speed = SpeedOptions(fast_decode=True)
                    pipe.unet.__dict__.pop("forward", None)

            runs["openvino"] = lambda: openvino_run("default")
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
        for fn in runs.values():
            fn()  # warm-up: loads TAESD, first-call allocations
        for _ in range(args.repeats):
            for name, fn in runs.items():
                times[name].append(timed_cpu(fn))
        if "dispatcher" in ov:  # f32 after the default-precision runs (one recompile)
            runs["openvino f32"] = lambda: openvino_run("f32")
            runs["openvino f32"]()
            times["openvino f32"] = [timed_cpu(runs["openvino f32"]) for _ in range(args.repeats)]
            calls = ov.pop("dispatcher").ov_calls
            ov["unet_calls_through_openvino"] = calls
        vae = timed(lambda: pipe.vae.decode(torch.randn(1, 4, size // 8, size // 8)))
        taesd = engine.model.speed.taesd  # type: ignore[union-attr]
        tiny_decode = timed(lambda: taesd.decode(torch.randn(1, 4, size // 8, size // 8)))

    def median(name: str, k: int) -> float:
        return statistics.median(t[k] for t in times[name])

    p, b = median("plain", 0), median("brushwork", 0)
    figures = {name: {"wall_s": median(name, 0), "cpu_s": median(name, 1)} for name in times}
    figures.update(ratio=p / b, vae_decode_s=vae, taesd_decode_s=tiny_decode, threads=threads,
                   load=load.describe(), openvino_conversion=ov)  # fmt: skip
    for name in ("openvino", "openvino f32"):
        if name in times:
            figures[name]["vs_brushwork_torch"] = b / median(name, 0)
            if "brushwork bf16" in times:
                figures[name]["vs_brushwork_bf16"] = median("brushwork bf16", 0) / median(name, 0)
    if args.json:
        print(json.dumps(figures))
    rows = [
        (label, f"{median(name, 0):.2f}", f"{median(name, 1):.1f}",
         f"{median(name, 1) / threads:.1f}", f"{p / median(name, 0):.2f}")
        for name, label in (("plain", "plain diffusers (full VAE)"),
                            ("brushwork", "brushwork, TAESD fast decode"),
                            ("brushwork bf16", "brushwork, bf16 + TAESD fast decode"),
                            ("openvino", "brushwork, OpenVINO UNet + TAESD"),
                            ("openvino f32", "brushwork, OpenVINO UNet f32 hint + TAESD"))
        if name in times
    ]  # fmt: skip
    rows += [
        ("  of which: full VAE decode", f"{vae:.2f}", "", "", ""),
        ("  of which: TAESD decode", f"{tiny_decode:.2f}", "", "", ""),
    ]
    if "error" in ov:
        rows.append((f"OpenVINO: {ov['error']}", "", "", "", ""))
    elif ov:
        what = f"IR {ov['ir_bytes'] / 1e9:.2f} GB, default precision {ov['precision']}"
        rows.append((f"  OpenVINO conversion (once; {what})", f"{ov['convert_wall_s']:.1f}",
                     f"{ov['convert_cpu_s']:.1f}", "", ""))  # fmt: skip
    for name in ("openvino", "openvino f32"):
        if name in times:
            versus = [f"{b / median(name, 0):.2f}× brushwork torch fp32"]
            if "brushwork bf16" in times:
                versus.append(f"{median('brushwork bf16', 0) / median(name, 0):.2f}× its bf16")
            rows.append((f"  {name}: " + ", ".join(versus), "", "", "", ""))
    what = "TINY smoke models" if args.tiny else "SD 1.5 architecture, random weights"
    body = "\n".join([
        f"`python3 bench/cpu_fast.py{' --tiny' if args.tiny else ''}"
        f"{' --openvino' if args.openvino else ''}{' --bf16' if args.bf16 else ''}"
        f"{f' --steps {args.steps}' if args.steps != 1 else ''}` — "
        f"{header(load, threads)}",
        "",
        f"{what}, {size}², fp32, {args.steps} step(s) (Euler a), CFG 0, median of {args.repeats} "
        "interleaved "
        "runs, seconds per image. Target: brushwork ≤ 8 s and ≥ 3× plain.",
        "",
        "CPU s = this process's CPU time; CPU s / threads ≈ the wall time on an idle machine.",
        "",
        "```", table(rows, ("run", "wall s", "CPU s", "CPU s/threads", "vs plain")), "```",
    ])  # fmt: skip
    report(TITLE, body, args.write)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
