"""Other tools' metadata, written as each tool writes it (from their published formats)."""

import json

from hypothesis import given
from hypothesis import strategies as st

from pipeline.metadata_formats import (
    comfyui,
    exif_user_comment,
    fooocus,
    invokeai,
    novelai,
    sampler_id,
)
from tests.pngs import png_with_text

COMFY_GRAPH = {
    "3": {"class_type": "KSampler", "inputs": {
        "seed": 156680208700286, "steps": 20, "cfg": 8, "sampler_name": "dpmpp_2m",
        "scheduler": "karras", "denoise": 1, "model": ["4", 0], "positive": ["6", 0],
        "negative": ["7", 0], "latent_image": ["5", 0]}},
    "4": {"class_type": "CheckpointLoaderSimple",
          "inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 768,
                                                       "batch_size": 1}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {
        "text": "beautiful scenery nature glass bottle landscape", "clip": ["4", 1]}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "text, watermark",
                                                     "clip": ["4", 1]}},
    "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
    "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "ComfyUI",
                                                "images": ["8", 0]}},
}  # fmt: skip


def test_comfyui_sampler_node_is_followed_to_prompts_size_and_model():
    info = comfyui({"prompt": json.dumps(COMFY_GRAPH), "workflow": "{}"})
    assert info == {
        "source": "comfyui",
        "prompt": "beautiful scenery nature glass bottle landscape",
        "negative_prompt": "text, watermark",
        "steps": 20,
        "guidance": 8.0,
        "seed": 156680208700286,
        "sampler": "dpmpp_2m_karras",
        "width": 512,
        "height": 768,
        "model": "v1-5-pruned-emaonly",
    }


def test_comfyui_graph_with_a_cycle_or_garbage_does_not_hang_or_crash():
    cyclic = {"1": {"class_type": "KSampler", "inputs": {"positive": ["2", 0], "steps": 5}},
              "2": {"class_type": "Reroute", "inputs": {"x": ["1", 0]}}}  # fmt: skip
    assert comfyui({"prompt": json.dumps(cyclic)}) == {"source": "comfyui", "steps": 5}
    assert comfyui({"prompt": "[1, 2"}) is None
    assert comfyui({"prompt": json.dumps({"1": {"class_type": "LoadImage"}})}) is None
    assert comfyui({"prompt": "[" * 100_000 + "]" * 100_000}) is None  # too deep for json


def test_invokeai_v3_metadata():
    meta = {"positive_prompt": "a lighthouse", "negative_prompt": "fog", "width": 768,
            "height": 512, "seed": 4242, "steps": 30, "cfg_scale": 6.5,
            "scheduler": "dpmpp_2m_k", "model": {"name": "sd-1.5", "base": "sd-1"},
            "generation_mode": "txt2img"}  # fmt: skip
    assert invokeai({"invokeai_metadata": json.dumps(meta)}) == {
        "source": "invokeai", "prompt": "a lighthouse", "negative_prompt": "fog", "steps": 30,
        "guidance": 6.5, "seed": 4242, "width": 768, "height": 512, "model": "sd-1.5",
        "sampler": "dpmpp_2m_karras",
    }  # fmt: skip


def test_invokeai_v2_sd_metadata_and_dream_line():
    legacy = {"model_weights": "stable-diffusion-1.5", "image": {
        "prompt": [{"prompt": "a red barn [blurry, low quality]", "weight": 1.0}],
        "steps": 50, "cfg_scale": 7.5, "seed": 3, "width": 512, "height": 512,
        "sampler": "k_euler_a"}}  # fmt: skip
    info = invokeai({"sd-metadata": json.dumps(legacy)})
    assert info["prompt"] == "a red barn" and info["negative_prompt"] == "blurry, low quality"
    assert (info["sampler"], info["steps"], info["model"]) == (
        "euler_a",
        50,
        "stable-diffusion-1.5",
    )
    dream = invokeai({"Dream": '"a cat [dog]" -s 25 -S 1234 -W 640 -H 448 -C 9.0 -A k_lms'})
    assert dream == {"source": "invokeai", "prompt": "a cat", "negative_prompt": "dog",
                     "steps": 25, "seed": 1234, "width": 640, "height": 448, "guidance": 9.0,
                     "sampler": "lms"}  # fmt: skip


def test_fooocus_json_parameters():
    params = {"prompt": "a fox", "negative_prompt": "", "steps": 30, "guidance_scale": 4.0,
              "seed": "12345", "resolution": "(896, 1152)", "sampler": "dpmpp_2m_sde_gpu",
              "scheduler": "karras", "base_model": "juggernautXL_v8.safetensors",
              "version": "Fooocus v2.5.0"}  # fmt: skip
    info = fooocus({"parameters": json.dumps(params), "fooocus_scheme": "fooocus"})
    assert info == {"source": "fooocus", "prompt": "a fox", "negative_prompt": "", "steps": 30,
                    "guidance": 4.0, "seed": 12345, "width": 896, "height": 1152,
                    "model": "juggernautXL_v8", "sampler": "dpmpp_2m_sde_karras"}  # fmt: skip
    assert fooocus({"parameters": "a1111 text, not json"}) is None


def test_novelai_description_and_comment():
    comment = {"prompt": "1girl, masterpiece", "steps": 28, "height": 832, "width": 1216,
               "scale": 5.0, "uc": "lowres", "seed": 987, "sampler": "k_euler_ancestral",
               "strength": 0.7}  # fmt: skip
    chunks = {"Software": "NovelAI", "Description": "1girl, masterpiece",
              "Comment": json.dumps(comment), "Title": "NovelAI generated image"}  # fmt: skip
    info = novelai(chunks)
    assert info["sampler"] == "euler_a" and info["negative_prompt"] == "lowres"
    assert (info["width"], info["height"], info["seed"]) == (1216, 832, 987)
    assert novelai({"Software": "Photoshop"}) is None
    assert novelai({"Software": "NovelAI", "Description": "only a prompt", "Comment": "{bad"})[
        "prompt"] == "only a prompt"  # fmt: skip


def test_exif_user_comment_encodings():
    text = "a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512"
    assert exif_user_comment(b"UNICODE\x00" + text.encode("utf-16-be")) == text
    assert exif_user_comment(b"UNICODE\x00" + text.encode("utf-16-le")) == text
    assert exif_user_comment(b"ASCII\x00\x00\x00" + b"plain") == "plain"
    assert exif_user_comment(b"short") is None


def test_sampler_names_from_other_tools():
    assert sampler_id("euler_ancestral") == "euler_a"
    assert sampler_id("dpmpp_2m", karras=True) == "dpmpp_2m_karras"
    assert sampler_id("lms_k") == "lms_karras"
    assert sampler_id("DPM++ 2M Karras") == "dpmpp_2m_karras"
    assert sampler_id("restart") == "restart"  # unknown names are passed through


anything = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8),
                                                                        children, max_size=4),
    max_leaves=10,
)  # fmt: skip


@given(st.dictionaries(st.sampled_from(["prompt", "invokeai_metadata", "sd-metadata", "Dream",
                                        "parameters", "fooocus_scheme", "Software", "Comment"]),
                       anything.map(json.dumps) | st.text(max_size=50)))  # fmt: skip
def test_readers_never_raise_on_malformed_chunks(chunks):
    for reader in (comfyui, invokeai, fooocus, novelai):
        result = reader(chunks)
        assert result is None or result["source"]


def test_read_image_info_recognises_every_format_from_files(tmp_path):
    from PIL import Image

    from pipeline import read_image_info

    cases = {
        "comfyui": {"prompt": json.dumps(COMFY_GRAPH), "workflow": "{}"},
        "invokeai": {"invokeai_metadata": json.dumps({"positive_prompt": "x", "steps": 3})},
        "fooocus": {"fooocus_scheme": "fooocus", "parameters": json.dumps({"prompt": "y"})},
        "novelai": {"Software": "NovelAI", "Description": "z", "Comment": "{}"},
        "a1111": {"parameters": "p\nSteps: 5, Sampler: Euler, CFG scale: 7, Seed: 1"},
    }
    for source, chunks in cases.items():
        assert (
            read_image_info(png_with_text(tmp_path / f"{source}.png", chunks))["source"] == source
        )
    # A1111 JPEG: the parameters text in EXIF UserComment, UTF-16 after "UNICODE\0".
    text = "a jpeg cat\nSteps: 9, Sampler: DPM++ 2M, CFG scale: 5, Seed: 77, Size: 64x48"
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\x00" + text.encode("utf-16-be")
    jpeg = tmp_path / "a1111.jpg"
    Image.new("RGB", (64, 48)).save(jpeg, exif=exif)
    info = read_image_info(jpeg)
    assert (info["source"], info["prompt"], info["seed"], info["sampler"]) == (
        "a1111", "a jpeg cat", 77, "dpmpp_2m")  # fmt: skip


def test_cli_info_prints_other_tools_metadata(tmp_path, capsys):
    from pipeline.cli import main

    path = png_with_text(tmp_path / "comfy.png", {"prompt": json.dumps(COMFY_GRAPH)})
    assert main(["info", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["source"] == "comfyui" and data["sampler"] == "dpmpp_2m_karras"
