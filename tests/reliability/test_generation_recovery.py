"""NaN/black output, out of memory, long and odd prompts: the engine recovers or says why."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from pipeline import BrushworkError, Engine, GenerationRequest, read_image_info


@pytest.fixture
def tiny_request(tiny_model_dir):
    def make(**changes) -> GenerationRequest:
        fields = dict(prompt="a red circle", sampler="euler", steps=3, seed=7, width=64,
                      height=64, model=str(tiny_model_dir))  # fmt: skip
        return GenerationRequest(**{**fields, **changes})

    return make


def unet_of(engine):
    return engine.model.pipelines[next(iter(engine.model.pipelines))].unet


@pytest.fixture(scope="module")
def bf16_engine(tiny_model_dir, tmp_path_factory):
    """Reduced precision on CPU: the path where a real fp16 VAE overflows to NaN."""
    engine = Engine(tmp_path_factory.mktemp("bf16-out"), device="cpu", precision="bf16")
    engine.load(str(tiny_model_dir))
    return engine


def nan_in_reduced_precision(vae, calls: list):
    """The VAE's decode returns NaN unless it runs in float32, as an overflowing fp16 VAE does."""
    original = vae.decode

    def decode(z, *args, **kwargs):
        calls.append(z.dtype)
        out = original(z, *args, **kwargs)
        if z.dtype == torch.float32:
            return out
        return (torch.full_like(out[0], float("nan")),)

    return decode


def test_nan_output_is_decoded_again_in_float32(bf16_engine, monkeypatch, tmp_path, tiny_request):
    bf16_engine.output_dir = tmp_path
    pipe = bf16_engine.model.pipelines[next(iter(bf16_engine.model.pipelines))]
    calls: list = []
    monkeypatch.setattr(pipe.vae, "decode", nan_in_reduced_precision(pipe.vae, calls))

    [result] = bf16_engine.run(tiny_request())

    assert calls == [torch.bfloat16, torch.float32]  # the pipeline's decode, then the retry
    assert result.image.std() > 1.0  # a real picture, not the black of NaN → 0
    assert any("decoded again in float32" in note for note in result.notes)
    assert pipe.vae.dtype == torch.bfloat16  # back as it was for the next run
    with Image.open(result.path) as png:
        assert np.array_equal(np.asarray(png.convert("RGB")), result.image)


def test_nan_latents_give_a_clear_error_not_a_black_image(
    engine, monkeypatch, tmp_path, tiny_request
):
    unet = unet_of(engine)
    original = unet.forward

    def poisoned(*args, **kwargs):
        out = original(*args, **kwargs)
        return (torch.full_like(out[0], float("nan")),)

    monkeypatch.setattr(unet, "forward", poisoned)
    with pytest.raises(BrushworkError, match=r"invalid values \(NaN\).*Precision fp32"):
        engine.run(tiny_request())
    assert not list(tmp_path.glob("outputs/*.png"))  # no black image was saved
    monkeypatch.undo()
    assert engine.run(tiny_request())[0].image.std() > 1.0  # the engine still works


def oom_first(unet, times: int, counter: list):
    original = unet.forward

    def forward(*args, **kwargs):
        if len(counter) < times:
            counter.append(1)
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return original(*args, **kwargs)

    return forward


def test_out_of_memory_frees_and_retries_with_the_next_saving(engine, monkeypatch, tiny_request):
    unet = unet_of(engine)
    expected = engine.run(tiny_request())[0].image
    counter: list = []
    monkeypatch.setattr(unet, "forward", oom_first(unet, 1, counter))

    [result] = engine.run(tiny_request())

    assert counter == [1]
    assert engine.last_memory_plan.vae_tiling  # the first saving on the ladder
    assert any("Ran out of memory on cpu" in n and "VAE tiling" in n for n in result.notes)
    assert np.array_equal(result.image, expected)  # same seed, same image after the retry


def test_out_of_memory_everywhere_is_explained_and_the_engine_survives(
    engine, monkeypatch, tiny_request
):
    unet = unet_of(engine)
    counter: list = []
    monkeypatch.setattr(unet, "forward", oom_first(unet, 100, counter))
    with pytest.raises(BrushworkError, match="Out of memory on cpu at 64×64, batch 1, even with "
                       "VAE tiling, attention slicing"):  # fmt: skip
        engine.run(tiny_request())
    assert len(counter) == 3  # plain, + tiling, + slicing (no offload on CPU)
    monkeypatch.undo()
    assert engine.run(tiny_request())[0].path.is_file()


def test_out_of_memory_with_savings_off_says_how_to_turn_them_on(engine, monkeypatch, tiny_request):
    unet = unet_of(engine)
    monkeypatch.setattr(unet, "forward", oom_first(unet, 1, []))
    monkeypatch.setattr(engine, "memory_savings", "off")
    with pytest.raises(BrushworkError, match="Memory savings are off"):
        engine.run(tiny_request())


def test_mps_style_out_of_memory_runtime_error_is_recognised(engine, monkeypatch, tiny_request):
    unet = unet_of(engine)
    original, calls = unet.forward, []

    def forward(*args, **kwargs):
        if not calls:
            calls.append(1)
            raise RuntimeError("MPS backend out of memory (MPS allocated: 17.5 GB)")
        return original(*args, **kwargs)

    monkeypatch.setattr(unet, "forward", forward)
    assert engine.run(tiny_request())[0].notes


def test_1000_token_prompt_is_truncated_and_says_how_much(engine, tiny_request):
    prompt = " ".join(["red"] * 1000)
    [result] = engine.run(tiny_request(prompt=prompt, prompt_style="pipeline"))
    [note] = result.notes
    assert "the text encoder reads only the first 75" in note and "were ignored" in note
    assert read_image_info(result.path)["prompt"] == prompt  # the file keeps all of it


def test_empty_prompt_generates_unconditionally(engine, tiny_request):
    [result] = engine.run(tiny_request(prompt=""))
    assert result.path.is_file() and read_image_info(result.path)["prompt"] == ""


@pytest.mark.parametrize(
    "prompt", ["دائرة حمراء على خلفية زرقاء", "עיגול אדום ‏RTL‏ mixed", "红色圆圈 🎨 émoji"]
)
def test_rtl_and_non_latin_prompts_round_trip_through_the_file(engine, prompt, tiny_request):
    [result] = engine.run(tiny_request(prompt=prompt, negative_prompt=prompt[::-1]))
    info = read_image_info(result.path)
    assert (info["prompt"], info["negative_prompt"]) == (prompt, prompt[::-1])


def test_nan_output_without_memory_for_a_float32_decode_is_explained(
    bf16_engine, monkeypatch, tmp_path, tiny_request
):
    bf16_engine.output_dir = tmp_path
    pipe = bf16_engine.model.pipelines[next(iter(bf16_engine.model.pipelines))]
    original = pipe.vae.decode

    def decode(z, *args, **kwargs):
        if z.dtype == torch.float32:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 8.00 GiB")
        return (torch.full_like(original(z, *args, **kwargs)[0], float("nan")),)

    monkeypatch.setattr(pipe.vae, "decode", decode)
    with pytest.raises(BrushworkError, match="not enough memory to decode again in float32"):
        bf16_engine.run(tiny_request())
    assert pipe.vae.dtype == torch.bfloat16 and not list(tmp_path.glob("*.png"))
