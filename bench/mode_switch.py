"""Mode switch: txt2img → inpaint → img2img in one Engine — time, and bytes of weights loaded.

The engine derives the img2img and inpaint pipelines from the loaded one with `from_pipe`, which
must share every weight tensor. Bytes reloaded = bytes of parameters of the derived pipeline's
modules whose storage is not one of the txt2img pipeline's (target 0). Time: each mode's first
run (which derives its pipeline) against a second run in that mode.

Run: python3 bench/mode_switch.py [--write]
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
    SIZE,
    STEPS,
    LoadTracker,
    header,
    parser,
    report,
    table,
    torch_threads,
)

TITLE = "Mode switch"
MODULES = ("unet", "vae", "text_encoder")


def storages(pipe) -> dict[int, int]:
    """data_ptr → bytes of every parameter and buffer of the pipeline's weighted modules."""
    found = {}
    for name in MODULES:
        module = getattr(pipe, name)
        for tensor in [*module.parameters(), *module.buffers()]:
            found[tensor.data_ptr()] = tensor.numel() * tensor.element_size()
    return found


def main() -> None:
    args = parser(__doc__.split("\n")[0]).parse_args()
    from pipeline import Engine, GenerationRequest, Mode

    init = np.full((SIZE, SIZE, 3), (40, 60, 200), np.uint8)
    mask = np.zeros((SIZE, SIZE), np.uint8)
    mask[16:48, 16:48] = 255
    base = GenerationRequest(prompt=PROMPT, sampler=SAMPLER, steps=STEPS, guidance=CFG, seed=3,
                             width=SIZE, height=SIZE)  # fmt: skip
    requests = {
        Mode.TXT2IMG: base,
        Mode.INPAINT: base.replace(mode=Mode.INPAINT, init_image=init, mask=mask, strength=1.0),
        Mode.IMG2IMG: base.replace(mode=Mode.IMG2IMG, init_image=init, strength=0.75),
    }
    rows = []
    with tempfile.TemporaryDirectory() as out, torch_threads(1), LoadTracker() as load:
        engine = Engine(Path(out), device="cpu")
        model = engine.load(None)
        loaded = storages(model.pipeline(Mode.TXT2IMG))
        for mode, request in requests.items():
            start = time.perf_counter()
            engine.run(request)
            first = time.perf_counter() - start
            start = time.perf_counter()
            engine.run(request.replace(seed=4))
            again = time.perf_counter() - start
            derived = storages(model.pipeline(mode))
            new = sum(size for ptr, size in derived.items() if ptr not in loaded)
            rows.append((mode.value, f"{first * 1000:.0f}", f"{again * 1000:.0f}",
                         f"{(first - again) * 1000:+.0f}", f"{new}",
                         f"{sum(derived.values()) / 1e6:.1f}"))  # fmt: skip
    body = "\n".join([
        f"`python3 bench/mode_switch.py` — {header(load, threads=1)}",
        "",
        f"One Engine, bundled model, {STEPS} steps {SIZE}², modes in this order. Target: 0 bytes "
        "of weights reloaded.",
        "",
        "```",
        table(rows, ("mode", "first run ms", "second run ms", "switch cost ms",
                     "bytes reloaded", "weights shared MB")),
        "```",
    ])  # fmt: skip
    report(TITLE, body, args.write)


if __name__ == "__main__":
    main()
