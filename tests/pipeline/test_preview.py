import itertools
import json

import numpy as np
import pytest
import torch

from pipeline.preview import SD1_FACTORS, SDXL_FACTORS, LatentRGB, latent_rgb_for, track_x0
from pipeline.samplers import make_scheduler


def test_projection_maps_latents_through_factors_and_bias():
    rgb = LatentRGB(((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (0.0, 0.0, 0.0)),
                    bias=(0.0, 0.0, -1.0))  # fmt: skip
    latents = torch.zeros(4, 2, 3)
    latents[0] = 1.0  # red channel to +1 → 255
    latents[1, 0, 0] = -1.0  # green to -1 → 0 at one pixel
    image = rgb.project(latents)
    assert image.shape == (2, 3, 3) and image.dtype == np.uint8
    assert (image[..., 0] == 255).all()
    assert image[0, 0, 1] == 0 and image[1, 2, 1] == 128
    assert (image[..., 2] == 0).all()  # bias -1 → black


def test_model_folder_factors_win_over_published_ones(tmp_path):
    assert latent_rgb_for(tmp_path, is_sdxl=False).factors == SD1_FACTORS
    assert latent_rgb_for(None, is_sdxl=True).factors == SDXL_FACTORS
    fitted = {"factors": [[0.1, 0.2, 0.3]] * 4, "bias": [0.5, 0.5, 0.5]}
    (tmp_path / "latent_rgb.json").write_text(json.dumps(fitted))
    chosen = latent_rgb_for(tmp_path, is_sdxl=False)
    assert chosen.factors == ((0.1, 0.2, 0.3),) * 4 and chosen.bias == (0.5, 0.5, 0.5)


@pytest.fixture(scope="module")
def base_config(tiny_model_dir):
    from diffusers import PNDMScheduler

    return PNDMScheduler.from_pretrained(tiny_model_dir / "scheduler").config


@pytest.mark.parametrize("sampler", ["dpmpp_2m", "unipc"])
def test_x0_of_multistep_solvers_matches_their_own_data_prediction(sampler, base_config):
    # These solvers keep their x0 estimate in model_outputs; our formula must agree with it.
    scheduler = make_scheduler(sampler, base_config)
    read_x0 = track_x0(scheduler)
    scheduler.set_timesteps(10)
    generator = torch.Generator().manual_seed(0)
    sample = torch.randn(1, 4, 8, 8, generator=generator)
    eps = torch.randn(1, 4, 8, 8, generator=generator)
    t = scheduler.timesteps[3]
    scheduler._step_index = 3
    scheduler.step(eps, t, sample, return_dict=False)
    torch.testing.assert_close(read_x0(), scheduler.model_outputs[-1], rtol=1e-4, atol=1e-4)


def test_x0_of_k_samplers_is_their_pred_original_sample(base_config):
    scheduler = make_scheduler("euler", base_config)
    read_x0 = track_x0(scheduler)
    scheduler.set_timesteps(10)
    sample = torch.randn(1, 4, 8, 8) * scheduler.init_noise_sigma
    eps = torch.randn(1, 4, 8, 8)
    t = scheduler.timesteps[0]
    _, expected = scheduler.step(eps, t, sample, return_dict=False)
    torch.testing.assert_close(read_x0(), expected)
    sigma = scheduler.sigmas[0]
    torch.testing.assert_close(read_x0(), sample - sigma * eps)


def test_previews_settle_as_the_noise_goes(engine, tiny_model_dir):
    from pipeline import GenerationRequest

    updates = []
    engine.run(
        GenerationRequest(prompt="x", width=64, height=64, steps=8, seed=3,
                          model=str(tiny_model_dir), sampler="euler"),
        on_step=updates.append,
    )  # fmt: skip
    changes = [
        np.abs(a.preview.astype(int) - b.preview.astype(int)).mean()
        for a, b in itertools.pairwise(updates)
    ]
    assert changes[-1] < changes[0]  # x0 estimates converge as sigma goes to 0
