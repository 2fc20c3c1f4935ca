"""Tiny random-weight versions of diffusers' two upscaler pipelines, built in-process and saved as
model folders (the layout of stabilityai/stable-diffusion-x4-upscaler and sd-x2-latent-upscaler),
so tests load them through the real code path without a download."""

from __future__ import annotations

from pathlib import Path

from tests.tiny_model import build_tokenizer, tiny_text_encoder, tiny_unet, tiny_vae


def save_tiny_x4_upscaler(folder: Path) -> Path:
    """StableDiffusionUpscalePipeline: UNet on the image's own size (4 latent + 3 image
    channels, noise level as class label), a 3-level (×4) VAE."""
    from diffusers import DDIMScheduler, DDPMScheduler, StableDiffusionUpscalePipeline

    tokenizer = build_tokenizer(folder.parent / f"{folder.name}-vocab")
    pipe = StableDiffusionUpscalePipeline(
        vae=tiny_vae(3, scaling_factor=0.08333),
        text_encoder=tiny_text_encoder(tokenizer),
        tokenizer=tokenizer,
        unet=tiny_unet(in_channels=7, out_channels=4, num_class_embeds=100, sample_size=16),
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
        vae=tiny_vae(4),
        text_encoder=tiny_text_encoder(tokenizer),
        tokenizer=tokenizer,
        unet=tiny_unet(in_channels=8, out_channels=5, time_cond_proj_dim=160, sample_size=16),
        scheduler=EulerDiscreteScheduler(prediction_type="sample"),
    )
    pipe.save_pretrained(folder)
    return folder
