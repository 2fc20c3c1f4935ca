"""Engine behaviour on tiny real components (CPU, seeded): pixels, files, previews, cancel."""

import threading
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from pipeline import Cancelled, GenerationRequest, Mode, read_image_info


def request(model_dir, **changes):
    base = dict(prompt="a red circle", width=64, height=64, steps=4, seed=7, model=str(model_dir))
    return GenerationRequest(**{**base, **changes})


def test_same_request_twice_gives_identical_pixels(engine, tiny_model_dir):
    first = engine.run(request(tiny_model_dir))[0]
    second = engine.run(request(tiny_model_dir))[0]
    assert first.image.shape == (64, 64, 3) and first.image.dtype == np.uint8
    assert np.array_equal(first.image, second.image)
    assert first.path != second.path  # never overwrites an earlier image


@pytest.mark.parametrize("change", [{"seed": 8}, {"sampler": "dpmpp_2m"}, {"prompt": "blue"}])
def test_a_different_seed_sampler_or_prompt_changes_the_image(engine, tiny_model_dir, change):
    base = engine.run(request(tiny_model_dir))[0].image
    other = engine.run(request(tiny_model_dir, **change))[0].image
    assert np.abs(base.astype(int) - other.astype(int)).max() > 0


def test_random_seed_is_chosen_reported_and_reproducible(engine, tiny_model_dir):
    result = engine.run(request(tiny_model_dir, seed=None))[0]
    assert 0 <= result.seed < 2**32
    again = engine.run(request(tiny_model_dir, seed=result.seed))[0]
    assert np.array_equal(result.image, again.image)


def test_file_is_on_disk_with_parameters_before_run_returns(engine, tiny_model_dir):
    result = engine.run(request(tiny_model_dir, negative_prompt="blurry", guidance=5.5))[0]
    assert result.path.parent == engine.output_dir
    with Image.open(result.path) as png:
        assert np.array_equal(np.asarray(png.convert("RGB")), result.image)
        assert png.text["parameters"].startswith("a red circle\nNegative prompt: blurry\n")
        assert (
            "Steps: 4, Sampler: Euler a, CFG scale: 5.5, Seed: 7, Size: 64x64"
            in (png.text["parameters"])
        )
    info = read_image_info(result.path)
    assert info["prompt"] == "a red circle" and info["guidance"] == 5.5 and info["seed"] == 7
    assert info["model"] == "tiny-sd"
    assert not list(engine.output_dir.glob(".*"))  # no temp file left behind


def test_one_preview_per_step_of_the_predicted_image(engine, tiny_model_dir):
    updates = []
    engine.run(request(tiny_model_dir, steps=5), on_step=updates.append)
    assert [u.step for u in updates] == [1, 2, 3, 4, 5]
    assert all(u.total == 5 for u in updates)
    assert all(u.preview.shape == (8, 8, 3) and u.preview.dtype == np.uint8 for u in updates)
    assert [u.elapsed for u in updates] == sorted(u.elapsed for u in updates)


def test_heun_reports_progress_against_its_real_step_count(engine, tiny_model_dir):
    updates = []
    engine.run(request(tiny_model_dir, sampler="heun", steps=4), on_step=updates.append)
    assert [u.step for u in updates] == list(range(1, 8))  # 2N-1 model calls
    assert updates[-1].total == 7


def test_cancel_stops_at_the_next_step_boundary(engine, tiny_model_dir):
    cancel = threading.Event()
    seen = []

    def on_step(update):
        seen.append(update.step)
        if update.step == 2:
            cancel.set()

    with pytest.raises(Cancelled):
        engine.run(request(tiny_model_dir, steps=20), on_step=on_step, cancel=cancel)
    assert seen == [1, 2]
    assert not list(engine.output_dir.glob("*.png")) if engine.output_dir.exists() else True
    # The next run is unaffected.
    assert engine.run(request(tiny_model_dir, steps=2))[0].path.exists()


def test_cancel_set_before_start_runs_nothing(engine, tiny_model_dir):
    cancel = threading.Event()
    cancel.set()
    updates = []
    with pytest.raises(Cancelled):
        engine.run(request(tiny_model_dir), on_step=updates.append, cancel=cancel)
    assert updates == []


def test_modes_share_the_same_weights(engine, tiny_model_dir):
    model = engine.load(str(tiny_model_dir))
    pipes = [model.pipeline(mode) for mode in Mode]
    for name in ("unet", "vae", "text_encoder"):
        modules = [getattr(p, name) for p in pipes]
        assert modules[0] is modules[1] is modules[2]
        pointers = {next(m.parameters()).data_ptr() for m in modules}
        assert len(pointers) == 1
    assert engine.load(str(tiny_model_dir)) is model  # loading again is a no-op


@pytest.mark.parametrize(("strength", "expected_steps"), [(0.5, 5), (1.0, 10), (0.05, 1)])
def test_img2img_runs_the_strength_fraction_of_steps(
    engine, tiny_model_dir, strength, expected_steps
):
    init = np.zeros((64, 64, 3), np.uint8)
    updates = []
    engine.run(
        request(tiny_model_dir, mode="img2img", init_image=init, strength=strength, steps=10),
        on_step=updates.append,
    )
    assert len(updates) == expected_steps  # never zero: diffusers would crash on an empty run


def test_img2img_output_depends_on_the_init_image(engine, tiny_model_dir):
    dark = np.zeros((64, 64, 3), np.uint8)
    light = np.full((64, 64, 3), 255, np.uint8)
    outputs = [
        engine.run(request(tiny_model_dir, mode="img2img", init_image=init, strength=0.5))[0]
        for init in (dark, light)
    ]
    assert np.abs(outputs[0].image.astype(int) - outputs[1].image.astype(int)).mean() > 1


def test_init_image_of_another_size_is_resized_to_the_request(engine, tiny_model_dir):
    init = np.zeros((100, 50, 3), np.uint8)
    result = engine.run(request(tiny_model_dir, mode="img2img", init_image=init))[0]
    assert result.image.shape == (64, 64, 3)


def test_inpaint_runs_and_records_its_mode(engine, tiny_model_dir):
    init = np.full((64, 64, 3), 200, np.uint8)
    mask = np.zeros((64, 64), np.uint8)
    mask[:, 32:] = 255
    updates = []
    result = engine.run(
        request(tiny_model_dir, mode="inpaint", init_image=init, mask=mask, strength=1.0),
        on_step=updates.append,
    )[0]
    assert len(updates) == 4
    info = read_image_info(result.path)
    assert info["mode"] == "inpaint" and info["strength"] == 1.0
    assert "Denoising strength: 1" in Image.open(result.path).text["parameters"]


def test_batch_items_use_derived_seeds_and_match_single_runs(engine, tiny_model_dir):
    batch = engine.run(request(tiny_model_dir, batch_size=2, seed=41))
    assert [r.seed for r in batch] == [41, 42]
    assert len({r.path for r in batch}) == 2
    single = engine.run(request(tiny_model_dir, seed=42))[0]
    # Same noise; batched matmuls may differ in the last bit on CPU.
    assert np.abs(batch[1].image.astype(int) - single.image.astype(int)).max() <= 2
    assert read_image_info(batch[1].path)["seed"] == 42


def test_previews_can_be_turned_off_and_progress_still_comes(tiny_model_dir, tmp_path):
    from pipeline import Engine

    engine = Engine(tmp_path, device="cpu", previews=False)
    updates = []
    engine.run(request(tiny_model_dir, steps=3), on_step=updates.append)
    assert [u.step for u in updates] == [1, 2, 3] and all(u.preview is None for u in updates)


def test_memory_savings_are_planned_applied_and_described(engine, tiny_model_dir, monkeypatch):
    monkeypatch.setattr("pipeline.engine.available_bytes", lambda device: 1)  # nothing free
    result = engine.run(request(tiny_model_dir))[0]
    plan = engine.last_memory_plan
    assert plan.savings == ["VAE tiling", "attention slicing"]  # no offload on CPU
    assert "using VAE tiling, attention slicing" in plan.describe()
    pipe = engine.model.pipeline(Mode.TXT2IMG)
    assert pipe.vae.use_tiling
    assert result.path.exists()
    monkeypatch.setattr("pipeline.engine.available_bytes", lambda device: 64 * 1024**3)
    engine.run(request(tiny_model_dir))
    assert engine.last_memory_plan.savings == [] and not pipe.vae.use_tiling


def test_memory_savings_off_never_uses_them(tiny_model_dir, tmp_path, monkeypatch):
    from pipeline import Engine, RequestError

    monkeypatch.setattr("pipeline.engine.available_bytes", lambda device: 1)
    engine = Engine(tmp_path, device="cpu", memory_savings="off")
    engine.run(request(tiny_model_dir, steps=2))
    assert engine.last_memory_plan.savings == []
    with pytest.raises(RequestError, match="memory_savings must be auto or off"):
        Engine(tmp_path, device="cpu", memory_savings="sometimes")


def test_native_size_is_what_the_model_was_trained_at(engine, tiny_model_dir) -> None:
    from pipeline.engine import native_size

    loaded = engine.load(str(tiny_model_dir))
    assert loaded.native_size == 64  # UNet sample_size 8 × VAE scale factor 8
    unet = SimpleNamespace(config={"sample_size": 128})
    sdxl_like = SimpleNamespace(unet=unet, vae_scale_factor=8)
    assert native_size(sdxl_like) == 1024
    assert native_size(SimpleNamespace(unet=None, vae_scale_factor=8)) is None
