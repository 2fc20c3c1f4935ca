"""diffusers' SD ×4 and latent ×2 upscalers, on tiny random-weight versions built in-process:
the job, progress per step, cancel, size and factor limits, listing, Hub ids and the CLI."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PIL import Image

from pipeline import Cancelled, ModelError
from pipeline import diffusion_upscalers as diffusion
from pipeline.cli import main
from pipeline.errors import ImageInputError
from pipeline.upscale import list_upscalers
from pipeline.upscale_job import UpscaleJob, run_upscale_job
from tests.hub_standin import HubStandIn
from tests.tiny_diffusion_upscalers import save_tiny_latent_upscaler, save_tiny_x4_upscaler


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("diffusion-upscalers")
    return {
        "x4": save_tiny_x4_upscaler(root / "upscalers" / "sd-x4"),
        "latent": save_tiny_latent_upscaler(root / "upscalers" / "latent-x2"),
    }


class Engine:  # run_upscale_job reads only these without a refine
    allow_pickle, device = False, "cpu"


def picture(width: int = 28, height: int = 20) -> np.ndarray:
    return np.random.default_rng(3).integers(0, 256, (height, width, 3), dtype=np.uint8)


def run(job: UpscaleJob):
    phases: list[tuple[str, int, int]] = []
    outcome = run_upscale_job(Engine(), job, lambda *p: phases.append(p), threading.Event())
    return outcome, phases


def test_sd_x4_upscales_by_its_prompt_with_progress_per_step(models):
    image = picture()
    job = UpscaleJob(image, 4, str(models["x4"]), prompt="a red circle", steps=3, seed=1)
    outcome, phases = run(job)
    assert outcome.image.shape == (80, 112, 3) and outcome.image.dtype == np.uint8
    assert phases == [("steps", 1, 3), ("steps", 2, 3), ("steps", 3, 3)]
    assert outcome.summary() == "Upscaled ×4 with sd-x4 (3 steps)"
    again, _ = run(job)
    assert np.array_equal(again.image, outcome.image)  # the seed decides the noise
    other, _ = run(UpscaleJob(image, 4, str(models["x4"]), prompt="a blue star", steps=3, seed=1))
    assert not np.array_equal(other.image, outcome.image)  # the prompt guides it


def test_sd_x4_at_factor_2_is_its_x4_result_scaled_down(models):
    image = picture()
    x4, _ = run(UpscaleJob(image, 4, str(models["x4"]), prompt="a", steps=2, seed=4))
    x2, _ = run(UpscaleJob(image, 2, str(models["x4"]), prompt="a", steps=2, seed=4))
    expected = np.asarray(Image.fromarray(x4.image).resize((56, 40), Image.LANCZOS))
    assert np.array_equal(x2.image, expected)


def test_the_latent_upscaler_doubles_an_odd_size(models):
    outcome, phases = run(UpscaleJob(picture(30, 18), 2, "latent-x2", models["x4"].parent, steps=2))
    assert outcome.image.shape == (36, 60, 3)  # padded to what the UNet needs, cropped back
    assert phases[-1] == ("steps", 2, 2)


def test_limits_are_refused_before_the_model_loads(models, monkeypatch):
    def never(*_args, **_kwargs):
        raise AssertionError("loaded although the job is refused")

    monkeypatch.setattr(diffusion, "load_diffusion_upscaler", never)
    with pytest.raises(ImageInputError, match=r"latent ×2 upscaler makes images up to 2× .*×4"):
        run(UpscaleJob(picture(), 4, str(models["latent"])))
    with pytest.raises(ImageInputError, match=r"600×400 is too large .* 2400×1600"):
        run(UpscaleJob(picture(600, 400), 4, str(models["x4"])))


def test_cancel_between_steps_raises_and_returns_nothing(models):
    cancel = threading.Event()
    job = UpscaleJob(picture(), 4, str(models["x4"]), steps=4)
    steps: list[int] = []

    def progress(_phase: str, done: int, _total: int) -> None:
        steps.append(done)
        cancel.set()  # the user clicks Cancel during step 1

    with pytest.raises(Cancelled):
        run_upscale_job(Engine(), job, progress, cancel)
    assert steps == [1]


def test_a_folder_of_another_pipeline_is_refused_by_name(tiny_model_dir):
    with pytest.raises(ModelError, match="is not an upscaler"):
        run(UpscaleJob(picture(), 4, str(tiny_model_dir)))


def test_the_upscalers_folder_lists_model_files_and_diffusers_upscalers(models):
    folder = models["x4"].parent
    (folder / "notes").mkdir(exist_ok=True)  # a folder that is no upscaler is not listed
    names = [p.name for p in list_upscalers(folder)]
    assert names == ["brushwork-shapes-x4.safetensors", "latent-x2", "sd-x4"]


def test_a_hub_id_offline_and_not_downloaded_says_so():
    with pytest.raises(ModelError, match="'org/x4-upscaler' is not downloaded and the Hub is off"):
        run(UpscaleJob(picture(), 4, "org/x4-upscaler"))


def test_a_hub_id_downloads_through_the_download_code(models, monkeypatch, tmp_path):
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    with HubStandIn({"org/x4-upscaler": models["x4"]}) as hub:
        monkeypatch.setattr(constants, "ENDPOINT", hub.url)
        outcome, phases = run(UpscaleJob(picture(), 4, "org/x4-upscaler", steps=1))
    downloads = [p for p in phases if p[0] == "download"]
    assert downloads and downloads[-1][1] == downloads[-1][2]  # all bytes, in KiB
    assert outcome.upscaler == "x4-upscaler" and outcome.image.shape == (80, 112, 3)
    assert diffusion.known_scale("org/x4-upscaler") == 4  # now in the cache


def test_cli_upscales_with_a_diffusers_upscaler_and_its_prompt(models, tmp_path, capsys):
    source = tmp_path / "in.png"
    Image.fromarray(picture()).save(source)
    out = tmp_path / "out.png"
    args = ["upscale", str(source), "--model", str(models["x4"]), "--scale", "4"]
    assert main([*args, "--prompt", "a red circle", "--steps", "2", "--out", str(out)]) == 0
    with Image.open(out) as image:
        assert image.size == (112, 80)
        assert "Postprocess upscaler: sd-x4" in image.text["postprocessing"]
    latent = ["upscale", str(source), "--model", str(models["latent"]), "--scale", "4"]
    assert main(latent) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: The latent ×2 upscaler makes images up to 2×")
