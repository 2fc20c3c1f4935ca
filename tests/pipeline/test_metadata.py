import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline import GenerationRequest, ImageInputError, read_image_info
from pipeline.metadata import format_parameters, parse_parameters
from tests.pngs import png_with_text

A1111_SAMPLE = (
    "masterpiece, a castle on a hill, (detailed:1.2)\n"
    "Negative prompt: lowres, bad anatomy\n"
    "Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 3390126561, "
    'Size: 512x768, Model hash: 6ce0161689, Model: "v1-5, pruned", Denoising strength: 0.4, '
    "Version: v1.10.1"
)


def test_parses_a_real_a1111_parameters_text():
    info = parse_parameters(A1111_SAMPLE)
    assert info == {
        "prompt": "masterpiece, a castle on a hill, (detailed:1.2)",
        "negative_prompt": "lowres, bad anatomy",
        "steps": 28,
        "sampler": "dpmpp_2m_karras",
        "guidance": 6.5,
        "seed": 3390126561,
        "width": 512,
        "height": 768,
        "model": "v1-5, pruned",
        "strength": 0.4,  # Denoising strength
    }


def test_prompt_without_parameters_line_is_kept_whole():
    assert parse_parameters("just a prompt, nothing else") == {
        "prompt": "just a prompt, nothing else",
        "negative_prompt": "",
    }


def meta(**changes):
    request = GenerationRequest(prompt="a cat", seed=5, width=64, height=64, sampler="euler")
    request = request.resolved()  # as the engine writes it: CFG filled in
    return {**request.to_metadata(), **changes}


def test_format_writes_the_a1111_layout():
    text = format_parameters(meta(negative_prompt="dog"), "tiny")
    assert text == (
        "a cat\nNegative prompt: dog\n"
        "Steps: 20, Sampler: Euler, CFG scale: 7, Seed: 5, Size: 64x64, Model: tiny"
    )


prompts = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=80
).filter(lambda s: s.strip() == s and not s.startswith("Negative prompt:"))


@given(prompt=prompts, negative=prompts, model=prompts, steps=st.integers(1, 500))
def test_format_and_parse_round_trip(prompt, negative, model, steps):
    text = format_parameters(meta(prompt=prompt, negative_prompt=negative, steps=steps), model)
    info = parse_parameters(text)
    assert info["prompt"] == prompt
    assert info["negative_prompt"] == negative
    assert info["steps"] == steps and info["seed"] == 5 and info["model"] == model


def png_with(tmp_path, **chunks):
    return png_with_text(tmp_path / "image.png", chunks)


def test_reads_a1111_png(tmp_path):
    info = read_image_info(png_with(tmp_path, parameters=A1111_SAMPLE))
    assert info["source"] == "a1111" and info["seed"] == 3390126561


def test_malformed_json_chunk_falls_back_to_parameters(tmp_path):
    path = png_with(tmp_path, brushwork="{not json", parameters=A1111_SAMPLE)
    assert read_image_info(path)["source"] == "a1111"


def test_json_chunk_wins_and_carries_mode(tmp_path):
    chunk = json.dumps({"model": "m", "request": meta(mode="img2img", strength=0.3)})
    info = read_image_info(png_with(tmp_path, brushwork=chunk, parameters=A1111_SAMPLE))
    assert info["source"] == "brushwork" and info["mode"] == "img2img" and info["model"] == "m"


@pytest.mark.parametrize("content", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n\x00"])
def test_unreadable_files_raise_a_clear_error(tmp_path, content):
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(ImageInputError, match=r"Could not read image bad\.png"):
        read_image_info(path)


def test_image_without_parameters_says_so(tmp_path):
    with pytest.raises(ImageInputError, match="holds no generation parameters"):
        read_image_info(png_with(tmp_path))
    with pytest.raises(ImageInputError, match="not found"):
        read_image_info(tmp_path / "missing.png")
