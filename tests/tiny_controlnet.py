"""Tiny ControlNets with random weights for the tiny SD 1.5 / SDXL test models.

`from_unet` starts the zero convolutions at zero (a new ControlNet changes nothing); here they
get random values too, so a test can see that the control image matters.
"""

from __future__ import annotations

from pathlib import Path

import torch


def build_tiny_controlnet(model_dir: Path, seed: int = 0):
    from diffusers import ControlNetModel, UNet2DConditionModel

    unet = UNet2DConditionModel.from_pretrained(model_dir / "unet")
    torch.manual_seed(seed)
    net = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(8, 16, 16, 32))
    with torch.no_grad():
        for module in (*net.controlnet_down_blocks, net.controlnet_mid_block):
            module.weight.normal_(0.0, 0.3)
            module.bias.normal_(0.0, 0.1)
    return net


def save_tiny_controlnet(model_dir: Path, folder: Path, seed: int = 0) -> Path:
    build_tiny_controlnet(model_dir, seed).save_pretrained(folder)
    return folder


def save_original_layout(model_dir: Path, controlnet_dir: Path, target: Path) -> Path:
    """The ControlNet as one file in the original (lllyasviel / A1111) `control_model.` layout:
    the UNet-shaped part with the LDM names, plus zero_convs, middle_block_out and the
    input_hint_block (its convs at even indices, SiLUs between them)."""
    import json

    from safetensors.torch import load_file, save_file

    from tests.ldm_checkpoint import _convert_unet

    state = load_file(str(controlnet_dir / "diffusion_pytorch_model.safetensors"))
    unet_config = json.loads((model_dir / "unet" / "config.json").read_text())
    own, shared = {}, {}
    for key, value in state.items():
        (own if key.startswith(("controlnet_", "time_proj")) else shared)[key] = value
    out = {k.replace("model.diffusion_model.", "control_model."): v
           for k, v in _convert_unet(shared, unet_config).items()}  # fmt: skip
    blocks = {k.split(".")[1] + "." + k.split(".")[2] for k in own if ".blocks." in k}
    hint = ["conv_in", *sorted(blocks, key=lambda name: int(name.split(".")[1])), "conv_out"]
    for key, value in own.items():
        name = key.removeprefix("controlnet_")
        if name.startswith("down_blocks."):
            index, rest = name.split(".")[1], name.split(".", 2)[2]
            out[f"control_model.zero_convs.{index}.0.{rest}"] = value
        elif name.startswith("mid_block."):
            out[f"control_model.middle_block_out.0.{name.split('.', 1)[1]}"] = value
        elif name.startswith("cond_embedding."):
            part, rest = name.split(".", 1)[1].rsplit(".", 1)
            out[f"control_model.input_hint_block.{2 * hint.index(part)}.{rest}"] = value
    save_file({k: v.contiguous() for k, v in out.items()}, str(target))
    return target
