"""A separate VAE (file in diffusers or LDM layout, or folder) on the tiny SD model."""

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from pipeline import GenerationRequest, read_image_info
from pipeline.errors import ModelError
from pipeline.metadata import parse_parameters
from pipeline.request import Mode
from tests.ldm_checkpoint import _convert_vae


def request(model_dir, **changes):
    base = dict(prompt="ab", width=64, height=64, steps=2, seed=7, sampler="euler",
                model=str(model_dir))  # fmt: skip
    return GenerationRequest(**{**base, **changes})


def image(engine, model_dir, **changes) -> np.ndarray:
    return engine.run(request(model_dir, **changes))[0].image


@pytest.fixture
def other_vae(engine, tiny_model_dir, tmp_path):
    """The model's VAE with a changed decoder output layer, in three forms."""
    own = engine.load(str(tiny_model_dir)).pipelines[Mode.TXT2IMG].vae
    state = {k: v.clone().contiguous() for k, v in own.state_dict().items()}
    state["decoder.conv_out.bias"] = state["decoder.conv_out.bias"] + 0.3
    diffusers_file = tmp_path / "brighter.safetensors"
    save_file(state, str(diffusers_file))
    ldm_file = tmp_path / "brighter-ldm.safetensors"
    save_file(_convert_vae(state, dict(own.config)), str(ldm_file))
    from diffusers import AutoencoderKL

    folder = tmp_path / "brighter-folder"
    vae = AutoencoderKL.from_config(own.config)
    vae.load_state_dict(state)
    vae.save_pretrained(str(folder))
    return diffusers_file, ldm_file, folder, own


def test_a_separate_vae_changes_the_decode_in_every_form_and_goes_back(
    engine, tiny_model_dir, other_vae
):
    diffusers_file, ldm_file, folder, own = other_vae
    base = image(engine, tiny_model_dir)
    made = engine.run(request(tiny_model_dir, vae=str(diffusers_file)))[0]
    assert made.image.astype(int).mean() > base.astype(int).mean() + 5  # +0.3 before clipping
    assert np.array_equal(image(engine, tiny_model_dir, vae=str(ldm_file)), made.image)
    assert np.array_equal(image(engine, tiny_model_dir, vae=str(folder)), made.image)
    assert np.array_equal(image(engine, tiny_model_dir), base)  # the model's own VAE again
    assert engine.load(str(tiny_model_dir)).pipelines[Mode.TXT2IMG].vae is own
    with Image.open(made.path) as saved:
        text = saved.text["parameters"]
    assert "VAE: brighter" in text and parse_parameters(text)["vae_name"] == "brighter"
    assert read_image_info(made.path)["vae"] == str(diffusers_file)


def test_bad_vaes_are_refused_by_name(engine, tiny_model_dir, tmp_path):
    base = image(engine, tiny_model_dir)
    wrong = tmp_path / "wrong.safetensors"
    bad_layers = {"decoder.conv_out.weight": torch.zeros(3, 7, 3, 3),
                  "decoder.up_blocks.0.resnets.0.conv1.weight": torch.zeros(1)}  # fmt: skip
    save_file(bad_layers, str(wrong))
    pickled = tmp_path / "old.pt"
    pickled.write_bytes(b"\x80\x04junk")
    for path, message in ((wrong, "VAE wrong.safetensors does not fit this model"),
                          (pickled, "VAE old.pt is a pickle"),
                          (tmp_path / "none.safetensors", "VAE not found")):  # fmt: skip
        with pytest.raises(ModelError, match=message):
            engine.run(request(tiny_model_dir, vae=str(path)))
    assert np.array_equal(image(engine, tiny_model_dir), base)
