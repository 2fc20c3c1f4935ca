"""A tiny SDXL model, as a diffusers folder and as one original-layout (SGM) `.safetensors` file.

Same structure as SDXL base (two text encoders, the second an OpenCLIP-style model with a
projection; text-time conditioning), at a size that builds in a second. The two encoders must
have different widths, as in the real model (768 and 1280): diffusers tells them apart by that.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from tests.ldm_checkpoint import _convert_text_encoder, _convert_unet, _convert_vae
from tests.tiny_model import build_tokenizer


def save_tiny_sdxl(folder: Path) -> Path:
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    tokenizer = build_tokenizer(folder.parent / f"{folder.name}-vocab")

    def text_config(width: int) -> CLIPTextConfig:
        return CLIPTextConfig(
            vocab_size=len(tokenizer), hidden_size=width, intermediate_size=37,
            num_attention_heads=4, num_hidden_layers=2, max_position_embeddings=77,
            projection_dim=width, bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        )  # fmt: skip

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=8, block_out_channels=(32, 64), layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32 + 48, attention_head_dim=(2, 4), use_linear_projection=True,
        addition_embed_type="text_time", addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=48 + 6 * 8, transformer_layers_per_block=(1, 2),
    )  # fmt: skip
    vae = AutoencoderKL(
        sample_size=64, block_out_channels=(8, 16, 16, 16), latent_channels=4,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=1, norm_num_groups=8,
    )  # fmt: skip
    pipe = StableDiffusionXLPipeline(
        vae=vae, unet=unet, tokenizer=tokenizer, tokenizer_2=tokenizer,
        text_encoder=CLIPTextModel(text_config(32)),
        text_encoder_2=CLIPTextModelWithProjection(text_config(48)),
        scheduler=EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, steps_offset=1,
                                         beta_schedule="scaled_linear"),
    )  # fmt: skip
    pipe.save_pretrained(folder)
    return folder


_OPEN_CLIP_NAMES = {
    "embeddings.token_embedding.weight": "token_embedding.weight",
    "embeddings.position_embedding.weight": "positional_embedding",
    "final_layer_norm.": "ln_final.",
}
_OPEN_CLIP_LAYER = {"layer_norm1.": "ln_1.", "layer_norm2.": "ln_2.", "mlp.fc1.": "mlp.c_fc.",
                    "mlp.fc2.": "mlp.c_proj.", "self_attn.out_proj.": "attn.out_proj."}  # fmt: skip


def _convert_open_clip(state: dict, prefix: str) -> dict:
    """CLIPTextModelWithProjection → OpenCLIP names: q/k/v fused, projection transposed."""
    state = {k.removeprefix("text_model."): v for k, v in state.items()}
    out = {prefix + "text_projection": state.pop("text_projection.weight").T.contiguous()}
    layers = {k.split(".")[2] for k in state if k.startswith("encoder.layers.")}
    for i in sorted(layers):
        head = f"encoder.layers.{i}.self_attn."
        for kind in ("weight", "bias"):
            fused = torch.cat([state.pop(f"{head}{p}_proj.{kind}") for p in "qkv"])
            out[f"{prefix}transformer.resblocks.{i}.attn.in_proj_{kind}"] = fused
    for key, value in state.items():
        if key.startswith("encoder.layers."):
            i, rest = key.split(".", 3)[2:]
            rest = next(new + rest[len(old):] for old, new in _OPEN_CLIP_LAYER.items()
                        if rest.startswith(old))  # fmt: skip
            out[f"{prefix}transformer.resblocks.{i}.{rest}"] = value
        else:
            old = next(o for o in _OPEN_CLIP_NAMES if key.startswith(o))
            out[prefix + _OPEN_CLIP_NAMES[old] + key[len(old) :]] = value
    return out


def save_sgm_checkpoint(model_dir: Path, target: Path) -> Path:
    """The SDXL folder as one file in Stability's SGM key layout (what SDXL files ship in)."""

    def weights(part: str) -> dict[str, torch.Tensor]:
        return load_file(next((model_dir / part).glob("*.safetensors")))

    unet_config = json.loads((model_dir / "unet" / "config.json").read_text())
    unet = _convert_unet(
        {k: v for k, v in weights("unet").items() if not k.startswith("add_embedding.")},
        unet_config,
    )
    for diffusers_name, ldm_name in (("linear_1", "0.0"), ("linear_2", "0.2")):
        for kind in ("weight", "bias"):
            unet[f"model.diffusion_model.label_emb.{ldm_name}.{kind}"] = weights("unet")[
                f"add_embedding.{diffusers_name}.{kind}"
            ]
    clip_l = {
        k.replace("cond_stage_model.", "conditioner.embedders.0.", 1): v
        for k, v in _convert_text_encoder(weights("text_encoder")).items()
    }
    state = {
        **unet,
        **_convert_vae(weights("vae"), json.loads((model_dir / "vae" / "config.json").read_text())),
        **clip_l,
        **_convert_open_clip(weights("text_encoder_2"), "conditioner.embedders.1.model."),
    }
    save_file({k: v.contiguous() for k, v in state.items()}, str(target))
    return target
