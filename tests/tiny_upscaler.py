"""Tiny spandrel-loadable upscale models with random (or chosen) weights, saved as files.

Built in-process from spandrel's own architecture classes, so the files have exactly the key
layout of real Real-ESRGAN compact and ESRGAN checkpoints, at a few KB.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file

from pipeline.spandrel_import import import_spandrel


def compact_state(scale: int = 4, feat: int = 8, convs: int = 2, seed: int = 0) -> dict:
    """An SRVGGNetCompact (Real-ESRGAN "compact") state dict with random weights."""
    import_spandrel()
    from spandrel.architectures.Compact import Compact

    torch.manual_seed(seed)
    model = Compact(num_in_ch=3, num_out_ch=3, num_feat=feat, num_conv=convs, upscale=scale)
    return {k: v.contiguous() for k, v in model.state_dict().items()}


def nearest_compact_state(scale: int = 4) -> dict:
    """A compact model whose residual is zero: it upscales exactly like nearest neighbour."""
    state = compact_state(scale)
    last = max(int(k.split(".")[1]) for k in state if k.startswith("body."))
    state[f"body.{last}.weight"].zero_()
    state[f"body.{last}.bias"].zero_()
    return state


def esrgan_state(scale: int = 4, seed: int = 0) -> dict:
    """An ESRGAN (RRDBNet) state dict: one block, 8 filters."""
    import_spandrel()
    from spandrel.architectures.ESRGAN import ESRGAN

    torch.manual_seed(seed)
    model = ESRGAN(in_nc=3, out_nc=3, num_filters=8, num_blocks=1, scale=scale)
    return {k: v.contiguous() for k, v in model.state_dict().items()}


def save_model(state: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save(state, path)
    return path
