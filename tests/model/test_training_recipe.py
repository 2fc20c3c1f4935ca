"""The training script's recipe choices do what their docstrings claim, and one tiny run of the
one-command retrain produces a folder that loads like any SD model."""

from __future__ import annotations

import argparse
import json
import random

import numpy as np
import pytest
import torch
import train_bundled_model as tbm


def _args(**kw) -> argparse.Namespace:
    base = dict(vae_fg_weight=4.0, vae_edge_weight=0.0, train_text_encoder=False)
    return argparse.Namespace(**{**base, **kw})


def _scene_tensor() -> torch.Tensor:
    """A flat blue picture with a red square in it, in [-1, 1] (corner = background)."""
    x = torch.full((1, 3, 16, 16), -0.5)
    x[:, 0, 4:10, 4:10] = 0.8
    return x


def test_an_error_on_the_shape_costs_more_than_the_same_error_on_the_background() -> None:
    x = _scene_tensor()
    on_shape, on_background = x.clone(), x.clone()
    on_shape[:, :, 6, 6] += 0.3
    on_background[:, :, 13, 13] += 0.3
    loss_shape = tbm.recon_loss(on_shape, x, _args())[0]
    loss_bg = tbm.recon_loss(on_background, x, _args())[0]
    assert loss_shape.item() == pytest.approx(4 * loss_bg.item(), rel=1e-5)
    # with weight 1 both cost the same: the weighting is the only difference
    same = _args(vae_fg_weight=1.0)
    assert tbm.recon_loss(on_shape, x, same)[0].item() == pytest.approx(
        tbm.recon_loss(on_background, x, same)[0].item()
    )


def test_the_edge_term_penalises_a_blurred_edge_that_keeps_the_mean() -> None:
    x = _scene_tensor()
    blurred = torch.nn.functional.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
    without = tbm.recon_loss(blurred, x, _args(vae_edge_weight=0.0))[0]
    with_edges = tbm.recon_loss(blurred, x, _args(vae_edge_weight=1.0))[0]
    assert with_edges > without
    assert tbm.recon_loss(x, x, _args(vae_edge_weight=1.0))[0].item() == 0.0


def test_the_text_encoder_is_frozen_unless_asked() -> None:
    unet = torch.nn.Linear(2, 2)
    te = torch.nn.Linear(3, 3)
    params = tbm.trainable(_args(), unet, te)
    assert {id(p) for p in params} == {id(p) for p in unet.parameters()}
    assert not any(p.requires_grad for p in te.parameters())
    params = tbm.trainable(_args(train_text_encoder=True), unet, te)
    assert len(params) == 4 and all(p.requires_grad for p in te.parameters())


def test_the_unet_knows_where_it_is_drawing() -> None:
    """conv_in sees the borders: a position-free input gives position-dependent features."""
    unet = tbm.make_unet(16, conv_in_kernel=17, center_input=True)
    assert unet.config.conv_in_kernel == 17 and unet.config.center_input_sample
    with torch.no_grad():
        feats = unet.conv_in(2 * torch.zeros(1, 4, 16, 16) - 1)  # what the UNet does to a 0 input
    left, right = feats[0, :, 8, 2], feats[0, :, 8, 13]
    assert not torch.allclose(left, right, atol=1e-3)


def test_scheduler_config_matches_the_training_choice() -> None:
    sched = tbm.make_scheduler("sd", "v_prediction")
    assert sched.config.prediction_type == "v_prediction"
    assert sched.config.beta_schedule == "scaled_linear"
    assert sched.config.timestep_spacing == "trailing"
    ddpm = tbm.make_scheduler("ddpm", "epsilon")
    assert ddpm.config.beta_schedule == "linear" and ddpm.config.beta_end == 0.02


def test_a_tiny_one_command_retrain_writes_a_loadable_model(tmp_path, monkeypatch) -> None:
    from diffusers import StableDiffusionPipeline

    monkeypatch.setattr(tbm.torch, "set_flush_denormal", lambda _on: True)  # process-wide
    out = tmp_path / "model"
    # threads and RNG seeds are process-wide too: keep the suite's
    threads = torch.get_num_threads()
    torch_rng, py_rng = torch.get_rng_state(), random.getstate()
    try:
        tbm.main(
            [
                *("--out", str(out), "--work-dir", str(tmp_path / "work")),
                *("--vae-steps", "2", "--decoder-steps", "1", "--pool", "64"),
                *("--unet-steps", "2", "--unet-batch", "4", "--ckpt-every", "0"),
                *("--threads", str(threads)),
            ]
        )
    finally:
        torch.set_num_threads(threads)
        torch.set_rng_state(torch_rng)
        random.setstate(py_rng)
    meta = json.loads((out / "training_meta.json").read_text())
    assert meta["prediction_type"] == "v_prediction" and meta["unet_steps"] == 2
    card = (out / "README.md").read_text()
    assert "frozen at its seeded random initialisation" in card and "v_prediction" in card
    pipe = StableDiffusionPipeline.from_pretrained(out, dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    assert pipe.scheduler.config.prediction_type == "v_prediction"
    assert pipe.unet.config.conv_in_kernel == 17
    img = pipe(
        "a red circle, blue background",
        num_inference_steps=2,
        generator=torch.Generator().manual_seed(0),
        output_type="np",
    ).images[0]
    assert img.shape == (64, 64, 3) and np.isfinite(img).all()
