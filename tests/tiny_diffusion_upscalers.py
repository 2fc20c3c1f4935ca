"""Tiny random-weight versions of diffusers' two upscaler pipelines, built in-process and saved as
model folders (the layout of stabilityai/stable-diffusion-x4-upscaler and sd-x2-latent-upscaler),
so tests load them through the real code path without a download."""

from __future__ import annotations

from pathlib import Path

from tests.tiny_model import build_tokenizer


def _text_encoder(tokenizer):
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    return CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=37,
            num_attention_heads=4,
            num_hidden_layers=2,
            max_position_embeddings=77,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )


def _vae(levels: int, **config):
    import torch
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    return AutoencoderKL(
        block_out_channels=(8, 16, 16, 16)[:levels],
        down_block_types=("DownEncoderBlock2D",) * levels,
        up_block_types=("UpDecoderBlock2D",) * levels,
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=8,
        **config,
    )


def _unet(**config):
    import torch
    from diffusers import UNet2DConditionModel

    torch.manual_seed(0)
    return UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=8,
        **config,
    )


def save_tiny_x4_upscaler(folder: Path) -> Path:
    """StableDiffusionUpscalePipeline: UNet on the image's own size (4 latent + 3 image
    channels, noise level as class label), a 3-level (×4) VAE."""
    from diffusers import DDIMScheduler, DDPMScheduler, StableDiffusionUpscalePipeline

    tokenizer = build_tokenizer(folder.parent / f"{folder.name}-vocab")
    pipe = StableDiffusionUpscalePipeline(
        vae=_vae(3, scaling_factor=0.08333),
        text_encoder=_text_encoder(tokenizer),
        tokenizer=tokenizer,
        unet=_unet(in_channels=7, out_channels=4, num_class_embeds=100, sample_size=16),
        low_res_scheduler=DDPMScheduler(),
        scheduler=DDIMScheduler(prediction_type="v_prediction"),
        max_noise_level=350,
    )
    pipe.save_pretrained(folder)
    return folder


def save_tiny_latent_upscaler(folder: Path) -> Path:
    """StableDiffusionLatentUpscalePipeline: an 8× VAE, a UNet on 2× latents (4 + 4 channels in,
    a 5th out for the unused variance) conditioned on the pooled text (128 + 32)."""
    from diffusers import EulerDiscreteScheduler, StableDiffusionLatentUpscalePipeline

    tokenizer = build_tokenizer(folder.parent / f"{folder.name}-vocab")
    pipe = StableDiffusionLatentUpscalePipeline(
        vae=_vae(4),
        text_encoder=_text_encoder(tokenizer),
        tokenizer=tokenizer,
        unet=_unet(in_channels=8, out_channels=5, time_cond_proj_dim=160, sample_size=16),
        scheduler=EulerDiscreteScheduler(prediction_type="sample"),
    )
    pipe.save_pretrained(folder)
    return folder
