"""Textual-inversion embeddings (A1111 .safetensors) on tiny real models."""

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from pipeline import Engine, GenerationRequest, read_image_info
from pipeline.errors import ModelError
from pipeline.metadata import parse_parameters
from pipeline.request import Mode


def request(model_dir, **changes):
    base = dict(prompt="ab", width=64, height=64, steps=2, seed=7, sampler="euler",
                model=str(model_dir))  # fmt: skip
    return GenerationRequest(**{**base, **changes})


def image(engine, model_dir, **changes) -> np.ndarray:
    return engine.run(request(model_dir, **changes))[0].image


@pytest.fixture(scope="module")
def sd(tmp_path_factory):
    from tests.tiny_model import save_tiny_model

    folder = save_tiny_model(tmp_path_factory.mktemp("emb-model") / "tiny-sd")
    engine = Engine(tmp_path_factory.mktemp("emb-out"), device="cpu")
    base = image(engine, folder)  # before any embedding is installed
    emb_dir = tmp_path_factory.mktemp("embeddings")
    vectors = torch.randn(2, 32, generator=torch.Generator().manual_seed(4)) * 3
    save_file({"emb_params": vectors}, str(emb_dir / "zzshade.safetensors"))
    return engine, folder, base, emb_dir, vectors


def test_embedding_by_file_name_changes_the_image_and_leaves_the_rest(sd):
    engine, folder, base, emb_dir, vectors = sd
    made = engine.run(request(folder, prompt="ab zzshade", embedding_dir=str(emb_dir)))[0]
    plain = image(engine, folder, prompt="ab zzshade")  # no folder: the word is plain text
    assert np.abs(made.image.astype(int) - plain.astype(int)).max() > 0
    # Installed now; a prompt without the name gives the image from before, bit for bit.
    assert np.array_equal(image(engine, folder, embedding_dir=str(emb_dir)), base)
    pipe = engine.load(str(folder)).pipelines[Mode.TXT2IMG]
    ids = pipe.tokenizer.convert_tokens_to_ids(["zzshade", "zzshade_1"])
    assert torch.equal(pipe.text_encoder.get_input_embeddings().weight[ids], vectors)
    with Image.open(made.path) as saved:
        text = saved.text["parameters"]
    from pipeline.embeddings import read_embedding

    digest = read_embedding(emb_dir / "zzshade.safetensors").short_hash
    assert parse_parameters(text)["ti_hashes"] == {"zzshade": digest}
    assert read_image_info(made.path)["embedding_dir"] == str(emb_dir)


def test_embedding_in_the_negative_prompt_and_given_by_path(sd):
    engine, folder, _base, emb_dir, _ = sd
    path = str(emb_dir / "zzshade.safetensors")
    by_path = image(engine, folder, negative_prompt="zzshade", embeddings=(path,))
    plain_negative = image(engine, folder, negative_prompt="zzshade")
    assert np.abs(by_path.astype(int) - plain_negative.astype(int)).max() > 0


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ({"emb_params": torch.zeros(1, 48)}, "vectors 48 wide; this model's text encoder takes 32"),
        ({"emb_params": torch.full((1, 32), float("nan"))}, "NaN"),
        ({"something": torch.zeros(1, 32)}, "not a textual-inversion embedding"),
        ({"clip_l": torch.zeros(1, 32), "clip_g": torch.zeros(1, 48)}, "is an SDXL embedding"),
    ],
)
def test_bad_embeddings_are_refused_by_name(sd, tmp_path, state, message):
    engine, folder, base, _, _ = sd
    save_file(state, str(tmp_path / "bad.safetensors"))
    with pytest.raises(ModelError, match=message):
        engine.run(request(folder, prompt="ab bad", embedding_dir=str(tmp_path)))
    (tmp_path / "old.pt").write_bytes(b"\x80\x04anything")
    with pytest.raises(ModelError, match="pickle"):
        engine.run(request(folder, embeddings=(str(tmp_path / "old.pt"),)))
    assert np.array_equal(image(engine, folder), base)


def test_sdxl_embedding_with_clip_l_and_clip_g(tmp_path_factory):
    from tests.tiny_sdxl import save_tiny_sdxl

    folder = save_tiny_sdxl(tmp_path_factory.mktemp("xl-emb") / "tiny-xl")
    engine = Engine(tmp_path_factory.mktemp("xl-emb-out"), device="cpu")
    emb_dir = tmp_path_factory.mktemp("xl-embeddings")
    g = torch.Generator().manual_seed(2)
    save_file({"clip_l": torch.randn(1, 32, generator=g) * 3,
               "clip_g": torch.randn(1, 48, generator=g) * 3},
              str(emb_dir / "zzxl.safetensors"))  # fmt: skip
    plain = image(engine, folder, prompt="ab zzxl")
    used = image(engine, folder, prompt="ab zzxl", embedding_dir=str(emb_dir))
    assert np.abs(used.astype(int) - plain.astype(int)).max() > 0
    save_file({"emb_params": torch.zeros(1, 32)}, str(emb_dir / "zzsd.safetensors"))
    with pytest.raises(ModelError, match=r"SD 1\.x/2\.x embedding; the model is SDXL"):
        engine.run(request(folder, prompt="zzsd", embedding_dir=str(emb_dir)))


def test_cli_embedding_flags(capsys, sd, tmp_path):
    from pipeline.cli import main

    _engine, folder, _, emb_dir, _ = sd
    args = ["generate", "--prompt", "ab zzshade", "--model", str(folder), "--steps", "1",
            "--embedding-dir", str(emb_dir), "--out", str(tmp_path), "--quiet"]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    [path] = tmp_path.glob("*.png")
    assert "zzshade" in read_image_info(path)["ti_hashes"]


def test_a_name_is_found_as_a_whole_word_only():
    """Plain string search since the regex built from the file name went (security: literal
    patterns only); the boundaries stay A1111's: no word character or '-' either side."""
    from pipeline.embeddings import mentioned

    assert mentioned("a zzshade, (zzshade:1.2)", ["zzshade", "other"]) == ["zzshade"]
    assert mentioned("zzshade_x x-zzshade zzshadey", ["zzshade"]) == []
