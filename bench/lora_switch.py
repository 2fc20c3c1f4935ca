"""LoRA switching cost on the bundled model: what is read from disk and how long a switch takes.

    python bench/lora_switch.py

Two kohya-layout LoRAs (rank 8, every attention projection of the UNet and text encoder) are
written to a temp folder; the engine's LoRA step is timed for the first use of each (file read +
checks + peft injection), then for switches between them and back to none. The base weights are
never re-read: the figure printed is the base model's size against the bytes actually read.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from common import BUNDLED_MODEL  # noqa: F401  (puts this checkout on sys.path)
from safetensors.torch import save_file

from pipeline import Engine
from pipeline.loras import LoraState, apply_loras
from pipeline.request import Mode
from tests.lora_files import kohya_lora


def main() -> None:
    engine = Engine(Path(tempfile.mkdtemp()), device="cpu")
    model = engine.load(None)
    pipe = model.pipelines[Mode.TXT2IMG]
    folder = Path(tempfile.mkdtemp(prefix="bench-loras-"))
    paths = []
    for seed in (1, 2):
        path = folder / f"lora{seed}.safetensors"
        save_file(kohya_lora(pipe, seed=seed, rank=8), str(path))
        paths.append(path)
    pointer = pipe.unet.conv_in.weight.data_ptr()
    state = LoraState()
    for path in paths:
        started = time.perf_counter()
        apply_loras(state, pipe, [(path, 1.0, False)])
        print(f"first use of {path.name} ({path.stat().st_size / 1e6:.2f} MB): "
              f"{(time.perf_counter() - started) * 1000:.0f} ms")  # fmt: skip
    switches = []
    for k in range(20):
        wanted = [] if k % 3 == 2 else [(paths[k % 2], 0.5 + k / 40, False)]
        started = time.perf_counter()
        apply_loras(state, pipe, wanted)
        switches.append((time.perf_counter() - started) * 1000)
    print(f"switch (other LoRA, other weight, or none): median {statistics.median(switches):.1f}"
          f" ms, max {max(switches):.1f} ms over {len(switches)}")  # fmt: skip
    same = pipe.unet.conv_in.weight.data_ptr() == pointer
    print(
        f"bytes read from disk for LoRAs: {state.bytes_read:,}; base model weights: "
        f"{model.weight_bytes:,} bytes, re-read: 0 (UNet weight storage unchanged: {same})"
    )


if __name__ == "__main__":
    main()
