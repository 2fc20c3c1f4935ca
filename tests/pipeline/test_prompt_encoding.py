"""A1111-style prompt encoding on tiny real models: pixels, embeddings, chunks, metadata."""

import numpy as np
import pytest
import torch

from pipeline import Engine, GenerationRequest, read_image_info
from pipeline.errors import RequestError
from pipeline.prompt_encoding import encode_prompts


def request(model_dir, **changes):
    base = dict(prompt="a red circle", width=64, height=64, steps=3, seed=7, model=str(model_dir))
    return GenerationRequest(**{**base, **changes})


def pixels(engine, model_dir, **changes) -> np.ndarray:
    return engine.run(request(model_dir, **changes))[0].image


def test_weight_one_gives_the_same_pixels_as_the_plain_word(engine, tiny_model_dir):
    plain = pixels(engine, tiny_model_dir, prompt="a red circle")
    assert np.array_equal(plain, pixels(engine, tiny_model_dir, prompt="a (red:1.0) circle"))
    weighted = pixels(engine, tiny_model_dir, prompt="a (red:1.6) circle")
    assert np.abs(plain.astype(int) - weighted.astype(int)).max() > 0


def test_a_short_plain_prompt_equals_the_models_own_pipeline_on_sd1(engine, tiny_model_dir):
    ours = pixels(engine, tiny_model_dir, negative_prompt="blur")
    theirs = pixels(engine, tiny_model_dir, negative_prompt="blur", prompt_style="pipeline")
    assert np.array_equal(ours, theirs)


def test_text_after_75_tokens_counts_in_chunks_not_in_pipeline_style(engine, tiny_model_dir):
    head = "x" * 80  # the tiny tokenizer reads one token per character
    cut = [pixels(engine, tiny_model_dir, prompt=head + tail, prompt_style="pipeline")
           for tail in ("red", "blue")]  # fmt: skip
    assert np.array_equal(cut[0], cut[1])
    chunked = [pixels(engine, tiny_model_dir, prompt=head + tail) for tail in ("red", "blue")]
    assert np.abs(chunked[0].astype(int) - chunked[1].astype(int)).max() > 0


def test_pipeline_style_still_notes_the_dropped_tokens(engine, tiny_model_dir):
    long = "x" * 90
    notes = engine.run(request(tiny_model_dir, prompt=long, prompt_style="pipeline"))[0].notes
    assert any("ignored" in note for note in notes)
    assert not engine.run(request(tiny_model_dir, prompt=long))[0].notes


@pytest.fixture(scope="module")
def biased_pipe(tmp_path_factory):
    """A tiny pipeline whose text encoder output has a non-zero mean, as real CLIP's has (a
    fresh layer norm has none, and A1111's rescaling to the mean needs one)."""
    from tests.tiny_model import build_tiny_pipeline

    pipe = build_tiny_pipeline(tmp_path_factory.mktemp("biased"))
    with torch.no_grad():
        encoder = getattr(pipe.text_encoder, "text_model", pipe.text_encoder)
        encoder.final_layer_norm.bias.fill_(0.25)
    return pipe


def test_embeddings_follow_a1111s_emphasis_formula(biased_pipe):
    base = encode_prompts(biased_pipe, "a b", "").kwargs["prompt_embeds"]
    weighted = encode_prompts(biased_pipe, "a (b:1.5)", "").kwargs["prompt_embeds"]
    weights = torch.ones(77)
    weights[2] = 1.5  # start token, a, b
    expected = base * weights.reshape(1, -1, 1)
    expected = expected * (base.mean() / expected.mean())
    assert torch.allclose(weighted, expected, atol=1e-6)
    assert base.shape == (1, 77, 32)
    assert abs(float(weighted.mean() - base.mean())) < 1e-6  # the mean is kept


def test_a_zero_mean_chunk_is_weighted_without_rescaling(engine, tiny_model_dir):
    pipe = engine.load(str(tiny_model_dir)).pipeline(request(tiny_model_dir).mode)
    base = encode_prompts(pipe, "a b", "").kwargs["prompt_embeds"]
    weighted = encode_prompts(pipe, "a (b:1.5)", "").kwargs["prompt_embeds"]
    assert torch.isfinite(weighted).all()  # A1111's m / 0 would be NaN
    assert torch.allclose(weighted[0, 2], base[0, 2] * 1.5)


def test_chunks_are_as_long_as_the_text_encoder_reads(engine):
    bundled = engine.load(None).pipeline(request(None).mode)
    positions = bundled.text_encoder.config.max_position_embeddings
    encoded = encode_prompts(bundled, "red " * 40, "")
    assert encoded.kwargs["prompt_embeds"].shape[1] == 2 * positions
    assert encoded.chunks == 2


def test_negative_and_positive_are_padded_to_the_same_chunk_count(engine, tiny_model_dir):
    pipe = engine.load(str(tiny_model_dir)).pipeline(request(tiny_model_dir).mode)
    encoded = encode_prompts(pipe, "x" * 160, "blur")
    assert encoded.chunks == 3
    assert encoded.kwargs["prompt_embeds"].shape == (1, 231, 32)
    negative = encoded.kwargs["negative_prompt_embeds"]
    empty = encode_prompts(pipe, "", "").kwargs["prompt_embeds"]
    assert negative.shape == (1, 231, 32)
    assert torch.equal(negative[:, 77:154], empty[:, :77])


def test_a_note_for_a_weight_that_is_text_reaches_the_result(engine, tiny_model_dir):
    notes = engine.run(request(tiny_model_dir, prompt="(red:abc) circle"))[0].notes
    assert any("'abc'" in note and "not a weight" in note for note in notes)


@pytest.mark.parametrize(
    ("field", "prompt", "message"),
    [
        ("prompt", "(red:1e12)", None),
        ("prompt", "(red:5000)", "out of range"),
        ("negative_prompt", "(" * 10_000 + "x", "negative_prompt: .*brackets"),
    ],
)
def test_bad_weights_are_refused_when_the_request_is_built(field, prompt, message):
    if message is None:  # 1e12 is not a number to A1111: it is text, not an error
        GenerationRequest(**{"prompt": "a", field: prompt})
        return
    with pytest.raises(RequestError, match=message):
        GenerationRequest(**{"prompt": "a", field: prompt})
    GenerationRequest(**{"prompt": "a", field: prompt, "prompt_style": "pipeline"})


def test_prompt_style_is_checked_written_and_read_back(engine, tiny_model_dir):
    with pytest.raises(RequestError, match="prompt_style must be one of a1111, pipeline"):
        request(tiny_model_dir, prompt_style="compel")
    made = engine.run(request(tiny_model_dir, prompt_style="pipeline"))[0]
    info = read_image_info(made.path)
    assert info["prompt_style"] == "pipeline"
    from PIL import Image

    with Image.open(made.path) as image:
        text = image.text["parameters"]
    assert "Prompt style: pipeline" in text
    from pipeline.metadata import parse_parameters

    assert parse_parameters(text)["prompt_style"] == "pipeline"
    default = engine.run(request(tiny_model_dir))[0]
    with Image.open(default.path) as image:
        assert "Prompt style" not in image.text["parameters"]  # A1111's own style: no key


@pytest.fixture(scope="module")
def sdxl_engine(tmp_path_factory):
    from tests.tiny_sdxl import save_tiny_sdxl

    folder = save_tiny_sdxl(tmp_path_factory.mktemp("xl") / "tiny-xl")
    engine = Engine(tmp_path_factory.mktemp("xl-out"), device="cpu")
    engine.load(str(folder))
    return engine, folder


def test_sdxl_uses_both_encoders_pooled_and_weights(sdxl_engine):
    engine, folder = sdxl_engine
    pipe = engine.load(str(folder)).pipeline(request(folder).mode)
    encoded = encode_prompts(pipe, "x" * 100, "")
    assert encoded.kwargs["prompt_embeds"].shape == (1, 154, 32 + 48)
    assert encoded.kwargs["pooled_prompt_embeds"].shape == (1, 48)
    # An empty negative prompt is zeros for SDXL (force_zeros_for_empty_prompt), like diffusers.
    assert not encoded.kwargs["negative_prompt_embeds"].any()
    assert not encoded.kwargs["negative_pooled_prompt_embeds"].any()
    plain = pixels(engine, folder, prompt="a red circle")
    assert np.array_equal(plain, pixels(engine, folder, prompt="a (red:1.0) circle"))
    weighted = pixels(engine, folder, prompt="a (red:1.6) circle")
    assert np.abs(plain.astype(int) - weighted.astype(int)).max() > 0
    # Weights do not touch the pooled output (A1111: it comes from the unweighted first chunk).
    pooled = encode_prompts(pipe, "a (red:1.6) circle", "").kwargs["pooled_prompt_embeds"]
    assert torch.equal(pooled, encode_prompts(pipe, "a red circle", "").kwargs[
        "pooled_prompt_embeds"])  # fmt: skip


def test_cli_refuses_a_bad_weight_in_one_line(capsys, tiny_model_dir):
    from pipeline.cli import main

    code = main(["generate", "--prompt", "(red:5000)", "--model", str(tiny_model_dir)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: prompt: The weight 5000")


def test_cli_prompt_style_pipeline_reaches_the_file(capsys, tiny_model_dir, tmp_path):
    from pipeline.cli import main

    args = ["generate", "--prompt", "a red circle", "--model", str(tiny_model_dir), "--steps", "1"]
    code = main([*args, "--prompt-style", "pipeline", "--out", str(tmp_path), "--quiet"])
    assert code == 0
    [path] = tmp_path.glob("*.png")
    assert read_image_info(path)["prompt_style"] == "pipeline"
    with pytest.raises(SystemExit) as exited:
        main(["generate", "--prompt", "a", "--prompt-style", "compel"])
    assert exited.value.code == 2
    assert "invalid choice: 'compel'" in capsys.readouterr().err


def test_clip_skip_two_reads_the_penultimate_layer_like_diffusers(engine, tiny_model_dir):
    pipe = engine.load(str(tiny_model_dir)).pipeline(request(tiny_model_dir).mode)
    skipped = encode_prompts(pipe, "a red circle", "", clip_skip=2).kwargs["prompt_embeds"]
    ids = pipe.tokenizer("a red circle", padding="max_length", return_tensors="pt").input_ids
    with torch.no_grad():
        hidden = pipe.text_encoder(ids, output_hidden_states=True).hidden_states[-2]
        norm = getattr(pipe.text_encoder, "text_model", pipe.text_encoder).final_layer_norm
        assert torch.equal(skipped, norm(hidden))
    ours = engine.run(request(tiny_model_dir, clip_skip=2))[0]
    theirs = pixels(engine, tiny_model_dir, clip_skip=2, prompt_style="pipeline")
    assert np.array_equal(ours.image, theirs)  # short prompt: chunked = truncated
    assert not np.array_equal(ours.image, pixels(engine, tiny_model_dir))
    from PIL import Image

    with Image.open(ours.path) as image:
        text = image.text["parameters"]
    assert "Clip skip: 2" in text
    from pipeline.metadata import parse_parameters

    assert parse_parameters(text)["clip_skip"] == 2
    assert read_image_info(ours.path)["clip_skip"] == 2


@pytest.mark.parametrize("value", [0, 13, "2", 2.0, True])
def test_clip_skip_out_of_range_is_refused(value):
    # The field table's wording, as for every whole-number field.
    with pytest.raises(RequestError, match=r"clip_skip must be (a whole number|between 1 and 12)"):
        GenerationRequest(prompt="a", clip_skip=value)


def test_clip_skip_beyond_the_encoders_layers_is_a_clear_error(engine, tiny_model_dir):
    with pytest.raises(RequestError, match=r"Clip skip 3 is more than .* 2 layers"):
        engine.run(request(tiny_model_dir, clip_skip=3))
