"""LoRA files in kohya/A1111 key layout for the tiny test models, built in-process.

kohya names a layer `lora_unet_<module path, dots as _>` (text encoders: `lora_te_`, SDXL
`lora_te1_`/`lora_te2_`, with CLIP's `text_model.` prefix) and stores `.lora_down.weight`
(rank × in), `.lora_up.weight` (out × rank) and `.alpha`.
"""

from __future__ import annotations

from typing import Any

import torch

UNET_TARGETS = ("to_q", "to_k", "to_v", "to_out.0")
TEXT_TARGETS = ("q_proj", "k_proj", "v_proj", "out_proj")


def kohya_lora(pipe: Any, seed: int = 0, rank: int = 4, scale: float = 0.5, te: bool = True):
    """A random LoRA for every attention projection of `pipe`'s UNet (and text encoders)."""
    generator = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    parts = [("lora_unet", pipe.unet, UNET_TARGETS, "")]
    if te:
        sdxl = getattr(pipe, "text_encoder_2", None) is not None
        parts.append(("lora_te1" if sdxl else "lora_te", pipe.text_encoder, TEXT_TARGETS,
                      "text_model."))  # fmt: skip
        if sdxl:
            parts.append(("lora_te2", pipe.text_encoder_2, TEXT_TARGETS, "text_model."))
    for prefix, model, targets, name_prefix in parts:
        for name, found in model.named_modules():
            module = getattr(found, "base_layer", found)  # a layer an earlier LoRA wrapped
            if not isinstance(module, torch.nn.Linear) or not name.endswith(targets):
                continue
            full = name if name.startswith(name_prefix) else name_prefix + name
            key = f"{prefix}_{full.replace('.', '_')}"
            down = torch.randn(rank, module.in_features, generator=generator) * scale
            up = torch.randn(module.out_features, rank, generator=generator) * scale
            state[f"{key}.lora_down.weight"] = down
            state[f"{key}.lora_up.weight"] = up
            state[f"{key}.alpha"] = torch.tensor(float(rank))
    return state
