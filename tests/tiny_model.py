"""Tiny real Stable Diffusion components, built in-process (no download), saved as a model folder.

The folder has the same layout as any user model, so tests load it through the real code path.
A 64×64 image needs 8×8 latents: the VAE has 4 levels (a 2-level one would shrink by 2, not 8,
and make every test far slower).
"""

from __future__ import annotations

import json
from pathlib import Path

from transformers.convert_slow_tokenizer import bytes_to_unicode  # CLIP's byte table


def build_tokenizer(folder: Path):
    from transformers import CLIPTokenizer

    symbols = list(bytes_to_unicode().values())
    vocab = {s: i for i, s in enumerate(symbols + [s + "</w>" for s in symbols])}
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    return CLIPTokenizer(
        str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77
    )


def tiny_unet(**config):
    """A 2-level UNet (32/64 channels, cross-attention 32 wide, seed 0)."""
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


def tiny_text_encoder(tokenizer):
    """A 2-layer, 32-wide CLIP text encoder (seed 0) for `tokenizer`."""
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


def tiny_vae(levels: int, **config):
    """A VAE of `levels` levels (8-16 channels, seed 0): it shrinks by 2^(levels-1)."""
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


def build_tiny_pipeline(scratch: Path):
    from diffusers import PNDMScheduler, StableDiffusionPipeline

    tokenizer = build_tokenizer(scratch / "vocab")
    unet = tiny_unet(sample_size=8)
    vae = tiny_vae(4, sample_size=64)
    text_encoder = tiny_text_encoder(tokenizer)
    # SD 1.5's own scheduler config.
    scheduler = PNDMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        set_alpha_to_one=False,
        skip_prk_steps=True,
        steps_offset=1,
    )
    return StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def save_tiny_model(folder: Path) -> Path:
    build_tiny_pipeline(folder.parent / f"{folder.name}-scratch").save_pretrained(folder)
    return folder
