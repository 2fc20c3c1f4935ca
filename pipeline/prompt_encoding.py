"""Encodes prompts the AUTOMATIC1111 way into `prompt_embeds` for a diffusers pipeline.

Each 75-token chunk (see prompt_weights) is encoded alone as start + 75 tokens (padded) + end,
its vectors are multiplied by the token weights and rescaled to the chunk's original mean (A1111's
"Original" emphasis), and the chunks are concatenated. The negative prompt is padded with the
encoding of "" to the same number of chunks. SDXL: both encoders' penultimate layer, side by
side, and the second encoder's pooled output of the first chunk (weights do not touch it); an
empty SDXL negative prompt is all zeros when the model asks for it, as in diffusers and A1111.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .errors import RequestError
from .prompt_weights import CHUNK_TOKENS, Chunk, Span, chunk_prompt, parse_prompt


@dataclass
class EncodedPrompts:
    kwargs: dict[str, Any]  # prompt_embeds, negative_prompt_embeds (+ pooled for SDXL)
    notes: list[str]
    chunks: int  # chunks of the positive prompt


@torch.inference_mode()
def encode_prompts(pipe: Any, prompt: str, negative: str, clip_skip: int = 1) -> EncodedPrompts:
    """The pipeline keyword arguments that replace `prompt` and `negative_prompt`."""
    encoders = _encoders(pipe)
    parsed, parsed_neg = parse_prompt(prompt), parse_prompt(negative)
    notes = parsed.notes + [f"Negative prompt: {n}" for n in parsed_neg.notes]
    sdxl = len(encoders) == 2
    device = pipe._execution_device
    embeds, pooled = _encode_all(encoders, parsed.spans, sdxl, clip_skip, device)
    zero_negative = sdxl and not negative and _force_zeros(pipe)
    if zero_negative:
        negative_embeds, negative_pooled = torch.zeros_like(embeds), torch.zeros_like(pooled)
    else:
        negative_embeds, negative_pooled = _encode_all(
            encoders, parsed_neg.spans, sdxl, clip_skip, device
        )
        embeds, negative_embeds = _same_length(
            embeds, negative_embeds, encoders, sdxl, clip_skip, device
        )
    kwargs: dict[str, Any] = {"prompt_embeds": embeds, "negative_prompt_embeds": negative_embeds}
    if sdxl:
        kwargs.update(pooled_prompt_embeds=pooled, negative_pooled_prompt_embeds=negative_pooled)
    return EncodedPrompts(kwargs, notes, embeds.shape[1] // (encoders[0].chunk + 2))


@torch.inference_mode()
def encode_truncated(pipe: Any, prompt: str, negative: str, clip_skip: int) -> dict[str, Any]:
    """SD 1.x/2.x with clip skip, the model pipeline's way (first 75 tokens, no weights).

    diffusers 0.42.1 does this itself via `text_encoder.text_model`, which transformers 5's
    CLIPTextModel no longer has, so it fails; this is the same computation."""
    encoder = _encoders(pipe)[0]
    device = pipe._execution_device
    out = []
    for text in (prompt, negative):
        ids = encoder.tokenizer(
            text, padding="max_length", max_length=encoder.chunk + 2, truncation=True,
            return_tensors="pt",
        ).input_ids  # fmt: skip
        hidden = encoder.model(ids.to(device), output_hidden_states=True).hidden_states
        _check_layers(clip_skip, len(hidden) - 1, sdxl=False)
        norm = getattr(encoder.model, "text_model", encoder.model).final_layer_norm
        out.append(norm(hidden[-clip_skip]))
    return {"prompt_embeds": out[0], "negative_prompt_embeds": out[1]}


def _check_layers(clip_skip: int, layers: int, sdxl: bool) -> None:
    if clip_skip + (1 if sdxl else 0) > layers:
        raise RequestError(
            f"Clip skip {clip_skip} is more than this model's text encoder allows (it has "
            f"{layers} layers)."
        )


@dataclass
class _Encoder:
    tokenizer: Any
    model: Any
    pad_id: int
    chunk: int  # text tokens per chunk: 75 (77 positions less start and end)


def _encoders(pipe: Any) -> list[_Encoder]:
    found = []
    for tok_name, enc_name in (("tokenizer", "text_encoder"), ("tokenizer_2", "text_encoder_2")):
        tokenizer, model = getattr(pipe, tok_name, None), getattr(pipe, enc_name, None)
        if tokenizer is not None and model is not None:
            pad = tokenizer.pad_token_id
            pad = tokenizer.eos_token_id if pad is None else pad
            positions = min(
                CHUNK_TOKENS + 2,
                tokenizer.model_max_length,
                model.config.max_position_embeddings,
            )
            found.append(_Encoder(tokenizer, model, pad, positions - 2))
    if not found:
        raise ValueError("this pipeline has no text encoder")
    return found


def _force_zeros(pipe: Any) -> bool:
    return bool(getattr(pipe, "config", {}).get("force_zeros_for_empty_prompt", False))


def _encode_all(
    encoders: list[_Encoder], spans: list, sdxl: bool, clip_skip: int, device: Any
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """All chunks through every encoder: (1, 77 × chunks, width), and SDXL's pooled output."""
    parts, pooled = [], None
    for index, encoder in enumerate(encoders):
        tokenize = _tokenize_with(encoder.tokenizer)
        chunks = chunk_prompt(spans, tokenize, _comma_id(encoder), encoder.chunk)
        zs = []
        for k, chunk in enumerate(chunks):
            z, pool = _encode_chunk(encoder, chunk, sdxl, clip_skip, device)
            zs.append(z)
            if k == 0 and index == len(encoders) - 1 and sdxl:
                pooled = pool
        parts.append(torch.cat(zs, dim=1))
    return torch.cat(parts, dim=-1), pooled


def _tokenize_with(tokenizer: Any):
    def tokenize(texts: list[str]) -> list[list[int]]:
        return tokenizer(texts, add_special_tokens=False, truncation=False).input_ids

    return tokenize


def _comma_id(encoder: _Encoder) -> int | None:
    return encoder.tokenizer.get_vocab().get(",</w>")


def _encode_chunk(
    encoder: _Encoder, chunk: Chunk, sdxl: bool, clip_skip: int, device: Any
) -> tuple[torch.Tensor, torch.Tensor | None]:
    tokenizer, model = encoder.tokenizer, encoder.model
    padding = encoder.chunk - len(chunk.tokens)
    ids = [tokenizer.bos_token_id, *chunk.tokens, *([encoder.pad_id] * padding)]
    ids.append(tokenizer.eos_token_id)
    weights = torch.tensor([1.0, *chunk.weights, *([1.0] * padding), 1.0])
    out = model(torch.tensor([ids], device=device), output_hidden_states=True)
    _check_layers(clip_skip, len(out.hidden_states) - 1, sdxl)
    if sdxl:  # the penultimate layer, no final norm (SDXL's own conditioning)
        z = out.hidden_states[-1 - clip_skip]
        pooled = out[0] if out[0].ndim == 2 else None
    elif clip_skip == 1:
        z, pooled = out.last_hidden_state, None
    else:  # A1111's clip skip for SD 1.x/2.x: an earlier layer, then the final norm
        norm = getattr(model, "text_model", model).final_layer_norm  # transformers 4 | 5
        z, pooled = norm(out.hidden_states[-clip_skip]), None
    return _emphasize(z, weights.to(z.device)), pooled


def _emphasize(z: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Scales each token's vector by its weight, then restores the chunk's mean. All-1 weights
    leave z bit for bit as it was (x·1 and m/m are exact). A chunk whose mean is (nearly) zero
    is not rescaled: A1111 would divide by that zero and produce NaN."""
    if bool((weights == 1.0).all()):
        return z
    original_mean = z.mean()
    weighted = z * weights.to(z.dtype).reshape(1, -1, 1)
    new_mean = weighted.mean()
    tiny = 1e-6 * float(z.abs().mean())
    if abs(float(original_mean)) <= tiny or abs(float(new_mean)) <= tiny:
        return weighted
    return weighted * (original_mean / new_mean)


def _same_length(
    a: torch.Tensor,
    b: torch.Tensor,
    encoders: list[_Encoder],
    sdxl: bool,
    clip_skip: int,
    device: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pads the shorter with the encoding of "" (one chunk) until both have as many chunks."""
    if a.shape[1] == b.shape[1]:
        return a, b
    empty, _ = _encode_all(encoders, [Span("")], sdxl, clip_skip, device)
    repeats = abs(a.shape[1] - b.shape[1]) // empty.shape[1]
    pad = empty.repeat(1, repeats, 1)
    if a.shape[1] < b.shape[1]:
        return torch.cat([a, pad], dim=1), b
    return a, torch.cat([b, pad], dim=1)
