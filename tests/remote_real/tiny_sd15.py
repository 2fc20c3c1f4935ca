"""A single-file checkpoint that ComfyUI detects as SD 1.5 but that samples fast on a CPU.

ComfyUI picks the model type from a few shapes (model_channels 320, context_dim 768, conv
proj_in, no adm_in_channels) and reads the block layout from the keys, so a one-level UNet with
those widths loads as SD 1.5 and runs ~0.05 s per step at 64². CLIP-L and the VAE are SD's own
sizes with random weights (ComfyUI builds those at fixed sizes). The diffusers → original (LDM)
key mapping is tests/ldm_checkpoint.py's.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from tests.ldm_checkpoint import save_ldm_checkpoint

NAME = "brushwork-tiny-sd15.safetensors"
LORA_NAME = "brushwork-tiny-lora.safetensors"


def build_tiny_sd15(target: Path) -> Path:
    """Writes the checkpoint to `target` (about 465 MB in fp16) unless it is already there."""
    if target.is_file():
        return target
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    unet = _unet()
    vae = AutoencoderKL(
        block_out_channels=(128, 256, 512, 512),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        layers_per_block=2,
    )
    clip = _clip()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        folder = Path(scratch)
        for part, module in (("unet", unet), ("vae", vae), ("text_encoder", clip)):
            module.to(torch.float16).save_pretrained(folder / part)
        partial = target.with_suffix(".partial")
        save_ldm_checkpoint(folder, partial)
        partial.replace(target)  # never a half-written checkpoint under the final name
    return target


def build_tiny_lora(target: Path) -> Path:
    """A random kohya LoRA (tests/lora_files.py) for every attention projection of the tiny
    checkpoint's UNet and CLIP: the same module names, so ComfyUI's LoraLoader applies it."""
    if target.is_file():
        return target
    from types import SimpleNamespace

    from safetensors.torch import save_file

    from tests.lora_files import kohya_lora

    state = kohya_lora(SimpleNamespace(unet=_unet(), text_encoder=_clip()), seed=3, scale=0.3)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    save_file({k: v.contiguous() for k, v in state.items()}, str(partial))
    partial.replace(target)
    return target


def _unet():
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=64,
        block_out_channels=(320,),
        layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D",),
        up_block_types=("CrossAttnUpBlock2D",),
        cross_attention_dim=768,
        attention_head_dim=8,
    )


def _clip():
    from transformers import CLIPTextConfig, CLIPTextModel

    return CLIPTextModel(  # CLIP ViT-L/14's text model
        CLIPTextConfig(
            hidden_size=768,
            intermediate_size=3072,
            num_attention_heads=12,
            num_hidden_layers=12,
            max_position_embeddings=77,
            projection_dim=768,
        )
    )


if __name__ == "__main__":
    import sys

    print(build_tiny_sd15(Path(sys.argv[1])))
