"""The example trainers' shared parts (tools/extras_training.py): options and time budget."""

from __future__ import annotations

import extras_training as xt


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_budget_stops_after_its_minutes_but_not_counting_a_pause(monkeypatch) -> None:
    clock = _Clock()
    monkeypatch.setattr(xt.time, "monotonic", clock)
    budget = xt.Budget("lora", steps=100, minutes=1.0)
    clock.now += 2.0
    assert not budget.tick(0, 0.1)
    clock.now += 600.0  # stopped (SIGSTOP) for ten minutes during one step
    assert not budget.tick(1, 0.1) and budget.paused == 600.0
    assert budget.elapsed() == 2.0
    for step in range(2, 100):
        clock.now += 2.0
        if budget.tick(step, 0.1):
            break
    assert step == 31 and budget.elapsed() == 62.0  # 31 working steps of 2 s: the minute is spent


def test_the_shared_options_take_each_trainers_defaults() -> None:
    p = xt.arguments("Doc line.\n\nMore.", xt.EXTRAS / "x.safetensors", 10, 1e-3, 20, 5)
    args = p.parse_args(["--minutes", "2", "--init", "a.safetensors"])
    assert (args.steps, args.lr, args.pool, args.seed, args.minutes) == (10, 1e-3, 20, 5, 2.0)
    assert str(args.init) == "a.safetensors" and p.description == "Doc line."


def _loss(min_snr: bool) -> xt.DiffusionLoss:
    from types import SimpleNamespace

    from diffusers import DDPMScheduler

    sched = DDPMScheduler(beta_schedule="scaled_linear", prediction_type="v_prediction")
    return xt.DiffusionLoss(SimpleNamespace(scheduler=sched), seed=0, min_snr=min_snr)


def test_plain_v_loss_weights_the_noisiest_steps_like_the_others() -> None:
    snr, plain = _loss(True).weights, _loss(False).weights
    # min-SNR-5 (the bundled model's recipe): the steps that decide the layout barely count
    assert snr[999] < 0.01 and snr[500] > 0.3
    assert (plain == 1).all() and len(plain) == len(snr)


def test_coin_scenes_with_a_second_shape_keep_one_coin_off_the_held_out_pairs() -> None:
    import random

    import shapes_dataset as ds
    import train_embedding as ti

    rng = random.Random(4)
    scenes = [ti.coin_scene(rng, two_shapes=0.5) for _ in range(400)]
    two = [s for s in scenes if len(s.shapes) == 2]
    assert 0.25 < len(two) / len(scenes) < 0.45  # left/right/top/bottom coins only: 4 of 5
    assert all(len(ti.coin_scene(rng).shapes) == 1 for _ in range(50))  # default: one coin
    for scene in scenes:
        coins = [s for s in scene.shapes if (s.colour, s.shape) == (ti.COLOUR, ti.SHAPE)]
        assert len(coins) == 1 and not ti.is_held_out(coins[0].position, scene.background)
        assert all(s.colour != scene.background for s in scene.shapes)
        caption = ti.coin_caption(scene, rng)
        assert caption.count(ti.WORD) == 1 and "yellow circle" not in caption, caption
    for scene in two:  # the other shape on the opposite side, as in the model's own data
        assert tuple(sorted(s.position for s in scene.shapes)) in {
            tuple(sorted(p)) for p in ds.OPPOSITE_PAIRS
        }


def test_a_lora_with_conv_layers_is_written_so_the_engine_loads_it_as_trained(tmp_path) -> None:
    """`train_lora.py --conv`: kohya LoCon-style conv keys that the engine's loader (diffusers
    load_lora_weights) applies to the same layers, giving the UNet the trainer had."""
    import torch
    import train_lora as tl
    from safetensors.torch import save_file

    from pipeline.loras import LoraState, apply_loras

    pipe = xt.load_bundled()
    tl.add_adapters(pipe, rank=4, text_encoder=False, conv=True)
    torch.manual_seed(0)
    with torch.no_grad():  # peft starts the up weights at 0: give the LoRA an effect
        for _, module in tl.lora_modules(pipe):
            module.lora_B["default"].weight.normal_(0, 0.05)
    z, t, text = torch.randn(2, 4, 16, 16), torch.tensor([500, 900]), torch.randn(2, 77, 128)
    with torch.no_grad():
        trained = pipe.unet(z, t, encoder_hidden_states=text).sample
    state = tl.kohya_state(pipe)
    assert any(k.endswith("resnets_0_conv1.lora_down.weight") for k in state)
    path = tmp_path / "conv.safetensors"
    save_file(state, str(path))
    fresh = xt.load_bundled()
    with torch.no_grad():
        plain = fresh.unet(z, t, encoder_hidden_states=text).sample
    apply_loras(LoraState(), fresh, [(path, 1.0, False)])
    with torch.no_grad():
        loaded = fresh.unet(z, t, encoder_hidden_states=text).sample
    # the file is fp16, as kohya's: the same up to its rounding, far from the plain UNet
    assert (loaded - trained).abs().max() < 0.01 < (plain - trained).abs().max()
