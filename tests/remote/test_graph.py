"""The ComfyUI graph a request becomes: core nodes only, one seeded chain per batch item."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.errors import RequestError
from pipeline.remote.graph import CORE_NODES, build_graph, comfy_sampler, used_nodes
from pipeline.request import GenerationRequest
from pipeline.samplers import SAMPLERS


def _request(**kw) -> GenerationRequest:
    return GenerationRequest(prompt="a red square", seed=7, width=64, height=96, **kw)


def _by_class(prompt: dict, kind: str) -> list[dict]:
    return [node["inputs"] for node in prompt.values() if node["class_type"] == kind]


def test_txt2img_graph_has_one_chain_per_batch_item_with_its_own_seed() -> None:
    graph = build_graph(_request(batch_size=3, steps=9, guidance=5.5), "tiny.safetensors")
    samplers = _by_class(graph.prompt, "KSampler")
    assert [s["seed"] for s in samplers] == [7, 8, 9]
    assert {(s["steps"], s["cfg"], s["denoise"]) for s in samplers} == {(9, 5.5, 1.0)}
    latents = _by_class(graph.prompt, "EmptyLatentImage")
    assert latents == [{"width": 64, "height": 96, "batch_size": 1}] * 3
    assert _by_class(graph.prompt, "CheckpointLoaderSimple") == [{"ckpt_name": "tiny.safetensors"}]
    assert len(graph.outputs) == 3
    assert all(graph.prompt[o]["class_type"] == "SaveImage" for o in graph.outputs)
    assert used_nodes(graph.prompt) <= set(CORE_NODES)


def test_every_link_points_at_an_existing_node_and_output() -> None:
    init = np.zeros((96, 64, 3), np.uint8)
    mask = np.zeros((96, 64), np.uint8)
    for request in (
        _request(),
        _request(mode="img2img", init_image=init),
        _request(mode="inpaint", init_image=init, mask=mask),
    ):
        prompt = build_graph(request, "m.safetensors", "up.png").prompt
        for node in prompt.values():
            for value in node["inputs"].values():
                if isinstance(value, list):
                    assert value[0] in prompt and isinstance(value[1], int)


def test_img2img_encodes_the_upload_and_runs_strength_times_steps() -> None:
    init = np.zeros((96, 64, 3), np.uint8)
    graph = build_graph(
        _request(mode="img2img", init_image=init, strength=0.5, steps=20), "m", "i.png"
    )
    assert _by_class(graph.prompt, "LoadImage") == [{"image": "i.png"}]
    (sampler,) = _by_class(graph.prompt, "KSampler")
    assert (sampler["steps"], sampler["denoise"]) == (10, 0.5)  # diffusers' int(20 × 0.5)
    assert not _by_class(graph.prompt, "EmptyLatentImage")
    assert not _by_class(graph.prompt, "SetLatentNoiseMask")


def test_inpaint_masks_the_latent_with_the_uploaded_alpha() -> None:
    init = np.zeros((96, 64, 3), np.uint8)
    mask = np.zeros((96, 64), np.uint8)
    graph = build_graph(_request(mode="inpaint", init_image=init, mask=mask), "m", "i.png")
    (masked,) = _by_class(graph.prompt, "SetLatentNoiseMask")
    load_id = next(k for k, n in graph.prompt.items() if n["class_type"] == "LoadImage")
    assert masked["mask"] == [load_id, 1]  # LoadImage's MASK output


def test_sampler_ids_map_to_comfy_names_and_pndm_is_refused_by_name() -> None:
    assert comfy_sampler("euler_a") == ("euler_ancestral", "normal")
    assert comfy_sampler("dpmpp_2m_karras") == ("dpmpp_2m", "karras")
    with pytest.raises(RequestError, match=r"PNDM.*no equivalent on ComfyUI"):
        comfy_sampler("pndm")
    mapped = [s.id for s in SAMPLERS if s.id != "pndm"]
    assert len({comfy_sampler(i) for i in mapped}) == len(mapped)  # no two share a mapping


def test_graph_needs_a_resolved_seed_and_the_upload_name() -> None:
    with pytest.raises(RequestError, match="seed"):
        build_graph(GenerationRequest(prompt="x"), "m")
    init = np.zeros((96, 64, 3), np.uint8)
    with pytest.raises(RequestError, match="uploaded image"):
        build_graph(_request(mode="img2img", init_image=init), "m")


def test_loras_are_chained_loraloaders_feeding_the_text_encoders_and_the_sampler() -> None:
    loras = [("style.safetensors", 0.8), ("sub/ink.safetensors", -0.5)]
    graph = build_graph(_request(batch_size=2), "m", loras=loras).prompt
    first, second = (k for k, n in graph.items() if n["class_type"] == "LoraLoader")
    loader = next(k for k, n in graph.items() if n["class_type"] == "CheckpointLoaderSimple")
    assert graph[first]["inputs"] == {
        "model": [loader, 0], "clip": [loader, 1], "lora_name": "style.safetensors",
        "strength_model": 0.8, "strength_clip": 0.8,
    }  # fmt: skip
    assert graph[second]["inputs"] == {
        "model": [first, 0], "clip": [first, 1], "lora_name": "sub/ink.safetensors",
        "strength_model": -0.5, "strength_clip": -0.5,
    }  # fmt: skip
    assert [e["clip"] for e in _by_class(graph, "CLIPTextEncode")] == [[second, 1]] * 2
    assert [s["model"] for s in _by_class(graph, "KSampler")] == [[second, 0]] * 2


def test_lora_tags_are_removed_from_the_text_the_server_encodes() -> None:
    request = GenerationRequest(
        prompt="a cat <lora:style:0.8>, sharp",
        negative_prompt="blurry",
        seed=7,
        width=64,
        height=64,
    )
    graph = build_graph(request, "m", loras=[("style.safetensors", 0.8)]).prompt
    assert [e["text"] for e in _by_class(graph, "CLIPTextEncode")] == ["a cat , sharp", "blurry"]


def test_clip_skip_becomes_clip_set_last_layer_after_the_loras() -> None:
    graph = build_graph(_request(clip_skip=2), "m", loras=[("style.safetensors", 1.0)]).prompt
    (lora,) = (k for k, n in graph.items() if n["class_type"] == "LoraLoader")
    (skip_id,) = (k for k, n in graph.items() if n["class_type"] == "CLIPSetLastLayer")
    assert graph[skip_id]["inputs"] == {"clip": [lora, 1], "stop_at_clip_layer": -2}
    assert [e["clip"] for e in _by_class(graph, "CLIPTextEncode")] == [[skip_id, 0]] * 2
    plain = build_graph(_request(), "m").prompt
    assert not _by_class(plain, "CLIPSetLastLayer") and not _by_class(plain, "LoraLoader")
