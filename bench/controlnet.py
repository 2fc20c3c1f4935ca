"""ControlNet: bytes of base weights reloaded (target 0), memory of a loaded ControlNet, time.

One Engine with the bundled model: a plain txt2img run, then the same run with the shipped
scribble ControlNet in txt2img, img2img and inpaint. Bytes reloaded = bytes of parameters of
each ControlNet pipeline's UNet/VAE/text encoder whose storage is not the loaded model's (from
`from_pipe`, target 0). Memory: the ControlNet's own parameter bytes and the process's RSS
growth when it loads; also the parameter bytes of SD 1.5- and SDXL-sized ControlNets, built on
the meta device from the shipped UNet configs (nothing downloaded, nothing allocated).

Run: python3 bench/controlnet.py [--write] [--json]
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import common  # noqa: F401  (puts this checkout first on sys.path)
import numpy as np
from common import (
    CFG,
    PROMPT,
    ROOT,
    SAMPLER,
    SIZE,
    STEPS,
    LoadTracker,
    header,
    parser,
    report,
    rss_bytes,
    table,
    torch_threads,
)

TITLE = "ControlNet"
MODULES = ("unet", "vae", "text_encoder")
CONTROLNET = ROOT / "resources" / "controlnets" / "brushwork-shapes-scribble"


def storages(pipe) -> dict[int, int]:
    found = {}
    for name in MODULES:
        for tensor in [*getattr(pipe, name).parameters(), *getattr(pipe, name).buffers()]:
            found[tensor.data_ptr()] = tensor.numel() * tensor.element_size()
    return found


def family_bytes(family: str) -> int:
    """fp16 parameter bytes of a ControlNet for the shipped config of `family` (meta device)."""
    import torch
    from diffusers import ControlNetModel, UNet2DConditionModel

    config = UNet2DConditionModel.load_config(
        ROOT / "resources" / "model_configs" / family / "unet"
    )
    with torch.device("meta"):
        net = ControlNetModel.from_unet(UNet2DConditionModel.from_config(config),
                                        load_weights_from_unet=False)  # fmt: skip
    return sum(p.numel() for p in net.parameters()) * 2


def main() -> None:
    p = parser(__doc__.split("\n")[0])
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    from pipeline import Engine, GenerationRequest, Mode
    from pipeline.control import ControlUnit

    scribble = np.full((SIZE, SIZE, 3), 255, np.uint8)
    scribble[20:44, 14:17] = scribble[20:44, 38:41] = scribble[20:23, 14:41] = 0
    scribble[41:44, 14:41] = 0
    init = np.full((SIZE, SIZE, 3), (40, 60, 200), np.uint8)
    mask = np.zeros((SIZE, SIZE), np.uint8)
    mask[8:56, 8:56] = 255
    base = GenerationRequest(prompt=PROMPT, sampler=SAMPLER, steps=STEPS, guidance=CFG, seed=3,
                             width=SIZE, height=SIZE)  # fmt: skip
    unit = ControlUnit(scribble, str(CONTROLNET), "scribble")
    rows, figures = [], {}
    with tempfile.TemporaryDirectory() as out, torch_threads(1), LoadTracker() as load:
        engine = Engine(Path(out), device="cpu")
        model = engine.load(None)
        loaded = storages(model.pipeline(Mode.TXT2IMG))
        start = time.perf_counter()
        engine.run(base)
        figures["plain_ms"] = (time.perf_counter() - start) * 1000
        rss_before = rss_bytes()
        for mode, extra in ((Mode.TXT2IMG, {}), (Mode.IMG2IMG, {"init_image": init}),
                            (Mode.INPAINT, {"init_image": init, "mask": mask})):  # fmt: skip
            request = base.replace(mode=mode, controls=(unit,), **extra)
            start = time.perf_counter()
            engine.run(request)
            first = (time.perf_counter() - start) * 1000
            start = time.perf_counter()
            engine.run(request.replace(seed=4))
            again = (time.perf_counter() - start) * 1000
            pipe = next(iter(model.control_pipelines.values()))
            new = sum(s for ptr, s in storages(pipe).items() if ptr not in loaded)
            rows.append((mode.value, f"{first:.0f}", f"{again:.0f}", str(new)))
            figures[f"{mode.value}_bytes_reloaded"] = new
            figures[f"{mode.value}_ms"] = again
        [net] = model.controlnets.values()
        figures["controlnet_param_bytes"] = sum(
            t.numel() * t.element_size() for t in [*net.parameters(), *net.buffers()]
        )
        figures["rss_growth_bytes"] = rss_bytes() - rss_before
    figures["sd15_controlnet_fp16_bytes"] = family_bytes("sd1")
    figures["sdxl_controlnet_fp16_bytes"] = family_bytes("sdxl")
    figures["load_average"] = load.describe()
    if args.json:
        print(json.dumps(figures, indent=1))
        return
    mb = 1e6
    body = "\n".join([
        f"`python3 bench/controlnet.py` — {header(load, threads=1)}",
        "",
        f"Bundled model + shipped scribble ControlNet, {STEPS} steps {SIZE}²; plain txt2img "
        f"{figures['plain_ms']:.0f} ms. Target: 0 bytes of base weights reloaded.",
        "",
        "```",
        table(rows, ("mode with ControlNet", "first run ms", "second run ms", "bytes reloaded")),
        "```",
        "",
        f"Loaded ControlNet: {figures['controlnet_param_bytes'] / mb:.1f} MB of parameters "
        f"(fp32 on CPU); process RSS grew {figures['rss_growth_bytes'] / mb:.1f} MB over the "
        f"three modes. Same architecture at full size (fp16, what a GPU holds): SD 1.5 "
        f"ControlNet {figures['sd15_controlnet_fp16_bytes'] / mb:.0f} MB, SDXL "
        f"{figures['sdxl_controlnet_fp16_bytes'] / mb:.0f} MB.",
    ])  # fmt: skip
    report(TITLE, body, args.write)


if __name__ == "__main__":
    main()
