"""CPU fast path: SD 1.5 at 512², 1 step, CFG 0 (how SD-Turbo runs; same architecture):
plain diffusers with its full VAE vs Brushwork with TAESD fast decode. Target: Brushwork
≤ 8 s per image and ≥ 3× plain.

The SD 1.5 architecture with RANDOM weights (speed does not depend on them; no download) and a
random-weight TAESD of the published layout in the folder's `taesd/` (pipeline/taesd.py reads
it from there), saved once as a diffusers folder so the engine loads it through its real path.
Both runs use the same loaded weights: plain = the engine's own diffusers pipeline called as a
user would (full VAE), brushwork = Engine.run with Settings → Speed → Fast decode (and its
per-step preview). torch threads = physical cores. Runs are interleaved; medians are reported.

`--openvino` also times the UNet step through OpenVINO (`openvino.convert_model` of the same
UNet, CPU plugin, fp32) against torch: the part OpenVINO could speed up (TAESD decode is small).
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


def openvino_rows(pipe: Any, size: int, repeats: int) -> list[tuple[str, str, str]]:
    """One UNet call (batch 1: CFG 0) through torch and through OpenVINO."""
    import torch

    try:
        import openvino as ov
    except ImportError:
        return [("openvino UNet", "not installed", "")]
    unet = pipe.unet
    latents = torch.randn(1, 4, size // 8, size // 8)
    timestep = torch.tensor(999)
    text = torch.randn(1, 77, unet.config.cross_attention_dim)

    class Wrapped(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.unet = unet

        def forward(self, sample: Any, t: Any, hidden: Any) -> Any:
            return self.unet(sample, t, hidden, return_dict=False)[0]

    started = time.perf_counter()
    with torch.no_grad():
        converted = ov.convert_model(Wrapped().eval(), example_input=(latents, timestep, text))
    compiled = ov.Core().compile_model(converted, "CPU")
    setup = time.perf_counter() - started
    inputs = [latents.numpy(), timestep.numpy(), text.numpy()]
    torch_times, ov_times = [], []
    with torch.inference_mode():
        unet(latents, timestep, text)
        compiled(inputs)
        for _ in range(repeats):
            torch_times.append(timed(lambda: unet(latents, timestep, text)))
            ov_times.append(timed(lambda: compiled(inputs)))
    t, o = statistics.median(torch_times), statistics.median(ov_times)
    return [
        ("torch UNet step", f"{t:.2f}", "1.00"),
        (f"openvino UNet step (convert+compile {setup:.0f} s)", f"{o:.2f}", f"{t / o:.2f}"),
    ]


def main() -> None:
    cli = parser(__doc__.split("\n")[0])
    cli.add_argument("--repeats", type=int, default=3)
    cli.add_argument("--size", type=int, default=512)
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
            model=str(folder), prompt=PROMPT, sampler="euler_a", steps=1, guidance=0.0, seed=0,
            width=size, height=size,
        )  # fmt: skip

        def plain() -> Any:
            with torch.inference_mode():
                return pipe(PROMPT, num_inference_steps=1, guidance_scale=0.0, width=size,
                            height=size, generator=torch.Generator("cpu").manual_seed(0),
                            output_type="np").images  # fmt: skip

        def brushwork() -> Any:
            return engine.run(request, on_step=lambda _update: None)

        runs = {"plain": plain, "brushwork": brushwork}
        if args.bf16:  # a second engine on the same folder, bf16 weights (AMX/AVX512-BF16 CPUs)
            bf16 = Engine(Path(tmp) / "out", device="cpu", precision="bf16",
                          speed=SpeedOptions(fast_decode=True))  # fmt: skip
            runs["brushwork bf16"] = lambda: bf16.run(request, on_step=lambda _update: None)
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
        for fn in runs.values():
            fn()  # warm-up: loads TAESD, first-call allocations
        for _ in range(args.repeats):
            for name, fn in runs.items():
                times[name].append(timed_cpu(fn))
        vae = timed(lambda: pipe.vae.decode(torch.randn(1, 4, size // 8, size // 8)))
        taesd = engine.model.speed.taesd  # type: ignore[union-attr]
        tiny_decode = timed(lambda: taesd.decode(torch.randn(1, 4, size // 8, size // 8)))
        ov = openvino_rows(pipe, size, args.repeats) if args.openvino else []

    def median(name: str, k: int) -> float:
        return statistics.median(t[k] for t in times[name])

    p, b = median("plain", 0), median("brushwork", 0)
    figures = {name: {"wall_s": median(name, 0), "cpu_s": median(name, 1)} for name in times}
    figures.update(ratio=p / b, vae_decode_s=vae, taesd_decode_s=tiny_decode, threads=threads,
                   load=load.describe(), openvino=ov)  # fmt: skip
    if args.json:
        print(json.dumps(figures))
    rows = [
        (label, f"{median(name, 0):.2f}", f"{median(name, 1):.1f}",
         f"{median(name, 1) / threads:.1f}", f"{p / median(name, 0):.2f}")
        for name, label in (("plain", "plain diffusers (full VAE)"),
                            ("brushwork", "brushwork, TAESD fast decode"),
                            ("brushwork bf16", "brushwork, bf16 + TAESD fast decode"))
        if name in times
    ]  # fmt: skip
    rows += [
        ("  of which: full VAE decode", f"{vae:.2f}", "", "", ""),
        ("  of which: TAESD decode", f"{tiny_decode:.2f}", "", "", ""),
        *((name, its, "", "", ratio) for name, its, ratio in ov),
    ]
    what = "TINY smoke models" if args.tiny else "SD 1.5 architecture, random weights"
    body = "\n".join([
        f"`python3 bench/cpu_fast.py{' --tiny' if args.tiny else ''}"
        f"{' --openvino' if args.openvino else ''}` — {header(load, threads)}",
        "",
        f"{what}, {size}², fp32, 1 step (Euler a), CFG 0, median of {args.repeats} interleaved "
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
