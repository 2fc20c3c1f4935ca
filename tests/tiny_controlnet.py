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
