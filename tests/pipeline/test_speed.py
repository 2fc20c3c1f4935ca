"""Settings → Speed in the engine: compile warm-up and its fallbacks, TAESD previews and fast
decode, the DeepCache step cache; tiny models built in-process, on CPU."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from pipeline import Engine, GenerationRequest
from pipeline.metadata import read_image_info
from pipeline.speed import CompiledUNet, SpeedOptions
from pipeline.taesd import PreviewBudget

EAGER_COMPILE = SpeedOptions(compile=True, compile_backend="eager")  # no C++ compiler needed


def tiny_taesd():
    """AutoencoderTiny with TAESD's layout at a fraction of its width (random weights)."""
    import torch
    from diffusers import AutoencoderTiny

    torch.manual_seed(0)
    return AutoencoderTiny(
        encoder_block_out_channels=(8, 8, 8, 8), decoder_block_out_channels=(8, 8, 8, 8),
        num_encoder_blocks=(1, 1, 1, 1), num_decoder_blocks=(1, 1, 1, 1),
    )  # fmt: skip


@pytest.fixture
def model_with_taesd(tiny_model_dir: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "tiny-with-taesd"
    shutil.copytree(tiny_model_dir, folder)
    tiny_taesd().save_pretrained(folder / "taesd")
    return folder


def request(model: Path, size: int = 64, **extra) -> GenerationRequest:
    return GenerationRequest(model=str(model), prompt="a red circle", steps=3, seed=7,
                             width=size, height=size, sampler="euler", **extra)  # fmt: skip


def engine(tmp_path: Path, options: SpeedOptions) -> Engine:
    return Engine(tmp_path / "out", device="cpu", speed=options)


def test_options_from_untrusted_data_keep_defaults_for_bad_values() -> None:
    options = SpeedOptions.from_dict({"compile": "yes", "channels_last": True,
                                      "preview": "bogus", "fast_decode": 1})  # fmt: skip
    assert options == SpeedOptions(channels_last=True)
    assert SpeedOptions.from_dict(["not", "a", "dict"]) == SpeedOptions()
    assert SpeedOptions.from_dict(options.to_dict()) == options


def test_compile_warms_up_in_the_background_and_never_delays_a_run(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    plain = engine(tmp_path, SpeedOptions()).run(request(tiny_model_dir))[0].image
    fast = engine(tmp_path, EAGER_COMPILE)
    first = fast.run(request(tiny_model_dir))[0].image  # eager: nothing compiled yet
    compiled: CompiledUNet = fast.model.speed.compiled  # type: ignore[union-attr]
    assert compiled.compiled_calls == 0
    compiled.wait(120)
    assert compiled.failure is None and len(compiled.warm) == 1
    second = fast.run(request(tiny_model_dir))[0].image
    assert compiled.compiled_calls == 3  # every step of the second run, compiled
    np.testing.assert_array_equal(first, plain)
    np.testing.assert_array_equal(second, plain)
    # A new size (CUDA graphs cannot replay it) runs eagerly at once, then warms up.
    fast.run(request(tiny_model_dir, size=128))
    assert compiled.compiled_calls == 3
    compiled.wait(120)
    assert len(compiled.warm) == 2


def test_compile_unavailable_falls_back_to_eager_with_a_note(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    def no_compiler(*_args, **_kwargs):
        raise RuntimeError("Compiler: cl is not found")

    monkeypatch.setattr(torch, "compile", no_compiler)
    plain = engine(tmp_path, SpeedOptions()).run(request(tiny_model_dir))[0].image
    fast = engine(tmp_path, EAGER_COMPILE)
    fast.run(request(tiny_model_dir))
    fast.model.speed.compiled.wait(60)  # type: ignore[union-attr]
    result = fast.run(request(tiny_model_dir))[0]
    assert any("torch.compile failed here" in note and "cl is not found" in note
               for note in result.notes)  # fmt: skip
    np.testing.assert_array_equal(result.image, plain)
    assert not any("failed" in n for n in fast.run(request(tiny_model_dir))[0].notes)  # once


def test_compiled_unet_failing_mid_run_finishes_the_image_eagerly(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    plain = engine(tmp_path, SpeedOptions()).run(request(tiny_model_dir))[0].image
    fast = engine(tmp_path, EAGER_COMPILE)
    fast.run(request(tiny_model_dir))
    compiled: CompiledUNet = fast.model.speed.compiled  # type: ignore[union-attr]
    compiled.wait(120)

    def graph_cannot_replay(*_args, **_kwargs):
        raise RuntimeError("CUDA graph capture failed for this size")

    compiled.compiled = graph_cannot_replay
    result = fast.run(request(tiny_model_dir))[0]
    np.testing.assert_array_equal(result.image, plain)
    assert any("CUDA graph capture failed" in note for note in result.notes)


def test_switching_compile_off_restores_the_plain_forward(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    fast = engine(tmp_path, EAGER_COMPILE)
    fast.run(request(tiny_model_dir))
    unet = fast.model.pipelines[next(iter(fast.model.pipelines))].unet  # type: ignore[union-attr]
    assert isinstance(unet.forward, CompiledUNet)
    fast.model.speed.compiled.wait(120)  # type: ignore[union-attr]
    fast.speed = SpeedOptions()
    fast.run(request(tiny_model_dir))
    assert not isinstance(unet.forward, CompiledUNet)


def test_taesd_previews_are_full_size_and_rate_limited(
    model_with_taesd: Path, tmp_path: Path
) -> None:
    previews: list = []
    fast = engine(tmp_path, SpeedOptions(preview="taesd"))
    fast.run(request(model_with_taesd), on_step=lambda u: previews.append(u.preview))
    assert previews[0].shape == (64, 64, 3)  # decoded, not the 8×8 linear projection
    assert previews[1] is None  # 4 per second at most: the steps of a tiny model are faster


def test_preview_budget_keeps_taesd_under_its_share_of_the_time() -> None:
    budget = PreviewBudget(per_second=4.0, share=0.10)
    assert budget.ready(now=0.0)
    budget.spent(0.0, 2.0)  # a 2 s decode (TAESD at 512² on a 2-core CPU)
    assert not budget.ready(now=19.9) and budget.ready(now=20.0)  # 2 of 20 s: 10 %
    budget.spent(20.0, 20.001)  # a fast GPU decode: the rate limit rules
    assert not budget.ready(now=20.2) and budget.ready(now=20.251)


def test_fast_decode_uses_taesd_and_says_so_in_the_metadata(
    model_with_taesd: Path, tmp_path: Path
) -> None:
    plain = engine(tmp_path, SpeedOptions()).run(request(model_with_taesd))[0]
    fast = engine(tmp_path, SpeedOptions(fast_decode=True))
    result = fast.run(request(model_with_taesd))[0]
    assert read_image_info(result.path)["fast_decode"] == "TAESD (approximate)"
    assert "fast_decode" not in read_image_info(plain.path)
    assert not np.array_equal(result.image, plain.image)
    # The model's own VAE is back for the next run without the option.
    fast.speed = SpeedOptions()
    np.testing.assert_array_equal(fast.run(request(model_with_taesd))[0].image, plain.image)


def test_taesd_missing_offline_falls_back_with_a_note(tiny_model_dir: Path, tmp_path: Path) -> None:
    plain = engine(tmp_path, SpeedOptions()).run(request(tiny_model_dir))[0].image
    result = engine(tmp_path, SpeedOptions(fast_decode=True, preview="taesd")).run(
        request(tiny_model_dir)
    )[0]
    np.testing.assert_array_equal(result.image, plain)
    assert any("madebyollin/taesd" in n and "offline" in n for n in result.notes)
    assert "fast_decode" not in read_image_info(result.path)


def test_taesd_downloads_with_progress_on_first_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants as constants

    from pipeline.taesd import availability, load_taesd
    from tests.hub_standin import HubStandIn

    repo = tmp_path / "repo"
    tiny_taesd().save_pretrained(repo)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    assert availability(None, False).startswith("unavailable")  # the suite is offline
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert availability(None, False).startswith("downloads on first use")
    updates: list = []
    with HubStandIn({"madebyollin/taesd": repo}) as hub:
        monkeypatch.setattr(constants, "ENDPOINT", hub.url)
        taesd = load_taesd(None, False, "cpu", None, on_progress=updates.append)
    assert type(taesd).__name__ == "AutoencoderTiny"
    assert updates and updates[-1].done_bytes == updates[-1].total_bytes > 0
    assert availability(None, False).startswith("ready")


def test_step_cache_is_recorded_and_undone_after_the_run(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    pytest.importorskip("DeepCache")
    plain = engine(tmp_path, SpeedOptions()).run(request(tiny_model_dir))[0].image
    fast = engine(tmp_path, SpeedOptions(step_cache=True))
    result = fast.run(request(tiny_model_dir))[0]
    assert read_image_info(result.path)["step_cache"].startswith("DeepCache")
    fast.speed = SpeedOptions()
    np.testing.assert_array_equal(fast.run(request(tiny_model_dir))[0].image, plain)


def test_fp16_fix_vae_is_used_for_sdxl_in_fp16_only_when_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants as constants
    import torch

    from pipeline.speed import fp16_fix_vae

    class StableDiffusionXLPipeline:  # only the class name is read
        pass

    class Model:
        def __init__(self) -> None:
            self.pipelines = {"txt2img": StableDiffusionXLPipeline()}

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    assert fp16_fix_vae(Model(), torch.float16, None) is None  # not in the cache
    repo = tmp_path / "models--madebyollin--sdxl-vae-fp16-fix"
    snapshot = repo / "snapshots" / ("c" * 40)
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("c" * 40)
    (snapshot / "config.json").write_text("{}")
    (snapshot / "diffusion_pytorch_model.safetensors").write_bytes(b"")
    assert fp16_fix_vae(Model(), torch.float16, None) == str(snapshot)
    assert fp16_fix_vae(Model(), torch.float32, None) is None  # fp32 does not overflow
    assert fp16_fix_vae(Model(), torch.float16, "my-vae.safetensors") is None  # the user's


def test_an_lcm_lora_run_at_ordinary_settings_gets_a_note() -> None:
    from pipeline.speed import few_step_lora_note

    ordinary = GenerationRequest(prompt="x", steps=20, guidance=7.0)
    note = few_step_lora_note(ordinary, "style: 0123456789ab, lcm-lora-sdv1-5: ba9876543210")
    assert note == [
        "The LoRA lcm-lora-sdv1-5 is a LCM LoRA: it is made for 4 steps, CFG 1 and the lcm "
        "sampler (this run: 20 steps, CFG 7)."
    ]
    already = GenerationRequest(prompt="x", steps=4, guidance=1.0)
    assert few_step_lora_note(already, "lcm-lora-sdv1-5: ba9876543210") == []
    assert few_step_lora_note(ordinary, "style: 0123456789ab") == []


def test_an_applied_lcm_lora_adds_the_note_to_the_image(tiny_model_dir: Path, tmp_path: Path):
    from safetensors.torch import save_file

    from pipeline import Mode
    from tests.lora_files import kohya_lora

    fast = engine(tmp_path, SpeedOptions())
    pipe = fast.load(str(tiny_model_dir)).pipeline(Mode.TXT2IMG)
    path = tmp_path / "lcm-lora-tiny.safetensors"
    save_file(kohya_lora(pipe, seed=1, scale=0.01), str(path))
    result = fast.run(request(tiny_model_dir, loras=((str(path), 1.0),)))[0]
    assert any("lcm-lora-tiny is a LCM LoRA" in note for note in result.notes)
