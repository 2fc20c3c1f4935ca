"""A Brushwork request as a ComfyUI API-format graph of core nodes only.

Each batch item gets its own sampler chain with its own seed (item_seed), not one batched latent:
ComfyUI draws a batch's noise from one seed, and Brushwork's metadata promises that every image
can be re-made alone from its own seed with batch size 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import RequestError
from ..loras import strip_tags
from ..request import GenerationRequest, Mode, item_seed
from ..samplers import get_sampler

# Brushwork sampler id → ComfyUI (sampler_name, scheduler). PNDM has no ComfyUI sampler.
_COMFY_SAMPLERS: dict[str, tuple[str, str]] = {
    "euler": ("euler", "normal"),
    "euler_a": ("euler_ancestral", "normal"),
    "heun": ("heun", "normal"),
    "lms": ("lms", "normal"),
    "lms_karras": ("lms", "karras"),
    "dpm2": ("dpm_2", "normal"),
    "dpm2_a": ("dpm_2_ancestral", "normal"),
    "dpmpp_2m": ("dpmpp_2m", "normal"),
    "dpmpp_2m_karras": ("dpmpp_2m", "karras"),
    "dpmpp_2m_sde": ("dpmpp_2m_sde", "normal"),
    "dpmpp_2m_sde_karras": ("dpmpp_2m_sde", "karras"),
    "dpmpp_sde": ("dpmpp_sde", "normal"),
    "ddim": ("ddim", "ddim_uniform"),
    "unipc": ("uni_pc", "normal"),
    "lcm": ("lcm", "normal"),
}

# Every node class a graph from build_graph may use: checked against /object_info first.
CORE_NODES = (
    "CheckpointLoaderSimple",
    "CLIPTextEncode",
    "EmptyLatentImage",
    "LoadImage",
    "VAEEncode",
    "SetLatentNoiseMask",
    "KSampler",
    "VAEDecode",
    "SaveImage",
)

_LOADER, _POSITIVE, _NEGATIVE, _IMAGE, _ENCODE, _MASKED = "1", "2", "3", "4", "5", "6"
_CLIP_SKIP = "7"
_FIRST_ITEM_NODE = 10


def comfy_sampler(sampler_id: str) -> tuple[str, str]:
    """(sampler_name, scheduler) for a Brushwork sampler id; RequestError when ComfyUI has none."""
    sampler = get_sampler(sampler_id)
    if sampler_id not in _COMFY_SAMPLERS:
        usable = ", ".join(_COMFY_SAMPLERS)
        raise RequestError(
            f"Sampler {sampler.name} ({sampler_id}) has no equivalent on ComfyUI servers; "
            f"choose one of: {usable}."
        )
    return _COMFY_SAMPLERS[sampler_id]


def sampler_steps(request: GenerationRequest) -> int:
    """Steps ComfyUI runs: with denoise < 1 it runs exactly `steps` (the tail of a longer
    schedule), while diffusers runs int(steps × strength); match diffusers' count."""
    if request.mode is Mode.TXT2IMG:
        return request.steps
    return max(1, int(request.steps * request.strength))


@dataclass(frozen=True)
class Graph:
    """The API-format prompt, and per batch item the ids of its KSampler and SaveImage nodes."""

    prompt: dict[str, Any]
    samplers: tuple[str, ...]
    outputs: tuple[str, ...]


def build_graph(
    request: GenerationRequest,
    checkpoint: str,
    image_name: str | None = None,
    filename_prefix: str = "brushwork",
    loras: Sequence[tuple[str, float]] = (),
) -> Graph:
    """`request` must have a resolved seed. `image_name` is the uploaded init image (img2img) or
    the uploaded RGBA image whose alpha is 255 − mask (inpaint: LoadImage's MASK is 1 − alpha),
    both already at the request size. `loras`: (file name as the server lists it, weight), the
    request's LoRAs and prompt tags already matched to the server's files. A size, sampler or
    CFG not given takes the field table's fallback (a server does not say a checkpoint's own)."""
    request = request.resolved()
    if request.seed is None:
        raise RequestError("build_graph needs a request with a resolved seed.")
    if request.mode is not Mode.TXT2IMG and not image_name:
        raise RequestError(f"{request.mode.value} needs the uploaded image's name.")
    sampler_name, scheduler = comfy_sampler(request.sampler)
    prompt: dict[str, Any] = {_LOADER: _node("CheckpointLoaderSimple", ckpt_name=checkpoint)}
    model, clip = _model_and_clip(prompt, loras, request.clip_skip)
    # <lora:…> tags are for LoraLoader only (as A1111 and the local engine do); the negative
    # prompt's text goes as it is, as locally.
    prompt[_POSITIVE] = _node("CLIPTextEncode", text=strip_tags(request.prompt), clip=clip)
    prompt[_NEGATIVE] = _node("CLIPTextEncode", text=request.negative_prompt, clip=clip)
    latent = _input_latent(prompt, request, image_name)
    denoise = 1.0 if request.mode is Mode.TXT2IMG else float(request.strength)
    samplers, outputs = [], []
    for k in range(request.batch_size):
        base = _FIRST_ITEM_NODE + 10 * k
        sample, decode, save = str(base), str(base + 1), str(base + 2)
        item_latent = latent
        if item_latent is None:  # txt2img: one empty latent per item (its size only)
            item_latent = str(base + 3)
            prompt[item_latent] = _node(
                "EmptyLatentImage", width=request.width, height=request.height, batch_size=1
            )
        prompt[sample] = _node(
            "KSampler",
            model=model,
            seed=item_seed(request.seed, k),
            steps=sampler_steps(request),
            cfg=float(request.guidance),
            sampler_name=sampler_name,
            scheduler=scheduler,
            positive=[_POSITIVE, 0],
            negative=[_NEGATIVE, 0],
            latent_image=[item_latent, 0],
            denoise=denoise,
        )
        prompt[decode] = _node("VAEDecode", samples=[sample, 0], vae=[_LOADER, 2])
        prompt[save] = _node("SaveImage", images=[decode, 0], filename_prefix=filename_prefix)
        samplers.append(sample)
        outputs.append(save)
    return Graph(prompt, tuple(samplers), tuple(outputs))


def _model_and_clip(
    prompt: dict[str, Any], loras: Sequence[tuple[str, float]], clip_skip: int
) -> tuple[list[Any], list[Any]]:
    """Links to the model and CLIP outputs after the LoRAs (one LoraLoader each, chained) and
    clip skip (A1111's clip skip N is ComfyUI's stop_at_clip_layer −N)."""
    model: list[Any] = [_LOADER, 0]
    clip: list[Any] = [_LOADER, 1]
    for k, (name, weight) in enumerate(loras, 1):
        node = f"lora{k}"
        prompt[node] = _node("LoraLoader", model=model, clip=clip, lora_name=name,
                             strength_model=float(weight), strength_clip=float(weight))  # fmt: skip
        model, clip = [node, 0], [node, 1]
    if clip_skip > 1:
        prompt[_CLIP_SKIP] = _node("CLIPSetLastLayer", clip=clip, stop_at_clip_layer=-clip_skip)
        clip = [_CLIP_SKIP, 0]
    return model, clip


def needed_nodes(loras: Sequence[tuple[str, float]], clip_skip: int) -> tuple[str, ...]:
    """The node classes a graph uses: CORE_NODES, plus LoraLoader / CLIPSetLastLayer if needed."""
    extra = ("LoraLoader",) if loras else ()
    return CORE_NODES + extra + (("CLIPSetLastLayer",) if clip_skip > 1 else ())


def _input_latent(
    prompt: dict[str, Any], request: GenerationRequest, image_name: str | None
) -> str | None:
    """The shared starting latent of img2img / inpaint (None for txt2img)."""
    if request.mode is Mode.TXT2IMG:
        return None
    prompt[_IMAGE] = _node("LoadImage", image=image_name)
    prompt[_ENCODE] = _node("VAEEncode", pixels=[_IMAGE, 0], vae=[_LOADER, 2])
    if request.mode is Mode.IMG2IMG:
        return _ENCODE
    # A plain model inpaints by denoising only under the mask (strength applies, as locally).
    prompt[_MASKED] = _node("SetLatentNoiseMask", samples=[_ENCODE, 0], mask=[_IMAGE, 1])
    return _MASKED


def _node(class_type: str, **inputs: Any) -> dict[str, Any]:
    return {"class_type": class_type, "inputs": inputs}


def used_nodes(prompt: dict[str, Any]) -> set[str]:
    return {node["class_type"] for node in prompt.values()}
