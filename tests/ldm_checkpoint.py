"""Writes a diffusers SD 1.x model folder as one original-layout (LDM) `.safetensors` file.

Used to test single-file loading offline with a checkpoint built from tiny components. The key
layout follows the original CompVis/Stability code; block indices are derived from the configs
(diffusers' own conversion script hard-codes SD 1.5's four levels with two layers each).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file


def _unet_names(config: dict) -> dict[str, str]:
    """diffusers prefix → LDM prefix for every block of a UNet2DConditionModel."""
    layers = config["layers_per_block"]
    levels = len(config["block_out_channels"])
    down_attn = ["CrossAttn" in t for t in config["down_block_types"]]
    up_attn = ["CrossAttn" in t for t in config["up_block_types"]]
    names = {
        "time_embedding.linear_1.": "time_embed.0.",
        "time_embedding.linear_2.": "time_embed.2.",
        "conv_in.": "input_blocks.0.0.",
        "conv_norm_out.": "out.0.",
        "conv_out.": "out.2.",
        "mid_block.resnets.0.": "middle_block.0.",
        "mid_block.attentions.0.": "middle_block.1.",
        "mid_block.resnets.1.": "middle_block.2.",
    }
    for i in range(levels):
        for j in range(layers):
            index = 1 + i * (layers + 1) + j
            names[f"down_blocks.{i}.resnets.{j}."] = f"input_blocks.{index}.0."
            if down_attn[i]:
                names[f"down_blocks.{i}.attentions.{j}."] = f"input_blocks.{index}.1."
        if i < levels - 1:
            names[f"down_blocks.{i}.downsamplers.0.conv."] = (
                f"input_blocks.{(i + 1) * (layers + 1)}.0.op."
            )
        for j in range(layers + 1):
            index = i * (layers + 1) + j
            names[f"up_blocks.{i}.resnets.{j}."] = f"output_blocks.{index}.0."
            if up_attn[i]:
                names[f"up_blocks.{i}.attentions.{j}."] = f"output_blocks.{index}.1."
        if i < levels - 1:
            index = i * (layers + 1) + layers
            names[f"up_blocks.{i}.upsamplers.0."] = (
                f"output_blocks.{index}.{2 if up_attn[i] else 1}."
            )
    return names


_RESNET = {
    "norm1.": "in_layers.0.",
    "conv1.": "in_layers.2.",
    "norm2.": "out_layers.0.",
    "conv2.": "out_layers.3.",
    "time_emb_proj.": "emb_layers.1.",
    "conv_shortcut.": "skip_connection.",
}


def _convert_unet(state: dict, config: dict) -> dict:
    names = sorted(_unet_names(config).items(), key=lambda kv: -len(kv[0]))
    out = {}
    for key, value in state.items():
        prefix, ldm_prefix = next((p, q) for p, q in names if key.startswith(p))
        rest = key[len(prefix) :]
        if ".resnets." in prefix:
            rest = next((new + rest[len(old) :] for old, new in _RESNET.items()
                         if rest.startswith(old)), rest)  # fmt: skip
        out["model.diffusion_model." + ldm_prefix + rest] = value
    return out


_VAE_ATTENTION = {"group_norm.": "norm.", "to_q.": "q.", "to_k.": "k.", "to_v.": "v.",
                  "to_out.0.": "proj_out."}  # fmt: skip


def _convert_vae(state: dict, config: dict) -> dict:
    levels = len(config["block_out_channels"])
    names = {"encoder.conv_norm_out.": "encoder.norm_out.",
             "decoder.conv_norm_out.": "decoder.norm_out."}  # fmt: skip
    for part in ("encoder", "decoder"):
        names[f"{part}.mid_block.resnets.0."] = f"{part}.mid.block_1."
        names[f"{part}.mid_block.resnets.1."] = f"{part}.mid.block_2."
        names[f"{part}.mid_block.attentions.0."] = f"{part}.mid.attn_1."
    for i in range(levels):
        names[f"encoder.down_blocks.{i}.resnets."] = f"encoder.down.{i}.block."
        names[f"encoder.down_blocks.{i}.downsamplers.0."] = f"encoder.down.{i}.downsample."
        up = levels - 1 - i  # LDM numbers decoder levels from the lowest resolution up
        names[f"decoder.up_blocks.{i}.resnets."] = f"decoder.up.{up}.block."
        names[f"decoder.up_blocks.{i}.upsamplers.0."] = f"decoder.up.{up}.upsample."
    ordered = sorted(names.items(), key=lambda kv: -len(kv[0]))
    out = {}
    for key, value in state.items():
        new = key
        for prefix, ldm_prefix in ordered:
            if key.startswith(prefix):
                new = ldm_prefix + key[len(prefix) :]
                break
        new = new.replace("conv_shortcut.", "nin_shortcut.")
        if ".mid.attn_1." in new:
            head, tail = new.split(".mid.attn_1.")
            tail = next((n + tail[len(o) :] for o, n in _VAE_ATTENTION.items()
                         if tail.startswith(o)), tail)  # fmt: skip
            new = f"{head}.mid.attn_1.{tail}"
            if value.ndim == 2:  # linear in diffusers, 1×1 conv in LDM
                value = value.reshape(*value.shape, 1, 1)
        out["first_stage_model." + new] = value
    return out


def _convert_text_encoder(state: dict) -> dict:
    # transformers 5 saves CLIPTextModel without the `text_model.` prefix; LDM files have it.
    return {
        "cond_stage_model.transformer."
        + (key if key.startswith("text_model.") else "text_model." + key): value
        for key, value in state.items()
    }


def save_ldm_checkpoint(model_dir: Path, target: Path) -> Path:
    def weights(part: str) -> dict[str, torch.Tensor]:
        return load_file(next((model_dir / part).glob("*.safetensors")))

    def config(part: str) -> dict:
        return json.loads((model_dir / part / "config.json").read_text())

    state = {
        **_convert_unet(weights("unet"), config("unet")),
        **_convert_vae(weights("vae"), config("vae")),
        **_convert_text_encoder(weights("text_encoder")),
    }
    save_file({k: v.contiguous() for k, v in state.items()}, str(target))
    return target
