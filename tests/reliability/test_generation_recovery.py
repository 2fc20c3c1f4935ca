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


def pipe_of(engine):
    return engine.model.pipelines[next(iter(engine.model.pipelines))]


def counting(module, calls: list):
    original = module.forward

    def forward(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    return forward


def oom_in_decode(vae, times: int, calls: list):
    """The VAE's decode runs out of memory `times` times, recording (batch, tiling) per call."""
    original = vae.decode

    def decode(z, *args, **kwargs):
        calls.append((z.shape[0], vae.use_tiling, vae.use_slicing))
        if len(calls) <= times:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 4.00 GiB")
        return original(z, *args, **kwargs)

    return decode


def test_out_of_memory_in_the_decode_decodes_again_without_denoising_again(
    engine, monkeypatch, tiny_request
):
    pipe = pipe_of(engine)
    unet_calls: list = []
    monkeypatch.setattr(pipe.unet, "forward", counting(pipe.unet, unet_calls))
    expected = [r.image for r in engine.run(tiny_request(batch_size=2))]
    one_run = len(unet_calls)
    decodes: list = []
    monkeypatch.setattr(pipe.vae, "decode", oom_in_decode(pipe.vae, 1, decodes))

    results = engine.run(tiny_request(batch_size=2))

    assert len(unet_calls) == 2 * one_run  # the denoising ran once for this run, not twice
    assert decodes == [(2, False, False), (2, True, False)]  # then the same latents, tiled
    assert all(np.array_equal(r.image, e) for r, e in zip(results, expected, strict=True))
    [note] = set(results[0].notes)
    assert "while decoding the image" in note and "VAE tiling" in note
    assert "the denoising was not repeated" in note
    assert engine.last_memory_plan.vae_tiling


def test_out_of_memory_in_a_tiled_decode_decodes_one_image_at_a_time(
    engine, monkeypatch, tiny_request
):
    pipe = pipe_of(engine)
    decodes: list = []
    monkeypatch.setattr(pipe.vae, "decode", oom_in_decode(pipe.vae, 2, decodes))
    results = engine.run(tiny_request(batch_size=2))
    assert decodes == [(2, False, False), (2, True, False), (2, True, True)]
    assert "VAE tiling and one image at a time" in results[0].notes[0]
    assert not pipe.vae.use_slicing  # only for that decode
    assert all(r.image.std() > 1.0 for r in results)


def test_out_of_memory_in_every_decode_is_explained_and_the_engine_survives(
    engine, monkeypatch, tiny_request
):
    pipe = pipe_of(engine)
    monkeypatch.setattr(pipe.vae, "decode", oom_in_decode(pipe.vae, 100, []))
    with pytest.raises(BrushworkError, match="Out of memory on cpu at 64×64, batch 1"):
        engine.run(tiny_request())
    monkeypatch.undo()
    assert engine.run(tiny_request())[0].image.std() > 1.0


def test_nan_in_one_image_of_a_batch_decodes_only_that_image_again(
    bf16_engine, monkeypatch, tmp_path, tiny_request
):
    bf16_engine.output_dir = tmp_path
    pipe = pipe_of(bf16_engine)
    clean = bf16_engine.run(tiny_request(batch_size=3))
    original, calls = pipe.vae.decode, []

    def decode(z, *args, **kwargs):
        calls.append((z.dtype, z.shape[0]))
        sample = original(z, *args, **kwargs)[0]
        if z.dtype != torch.float32:
            sample = sample.clone()
            sample[1] = float("nan")  # the second image overflows in reduced precision
        return (sample,)

    monkeypatch.setattr(pipe.vae, "decode", decode)
    results = bf16_engine.run(tiny_request(batch_size=3))

    assert calls == [(torch.bfloat16, 3), (torch.float32, 1)]  # only the bad image again
    assert np.array_equal(results[0].image, clean[0].image)
    assert np.array_equal(results[2].image, clean[2].image)
    assert results[1].image.std() > 1.0  # a real picture, not black
    assert any("decoded again in float32" in note for note in results[1].notes)
