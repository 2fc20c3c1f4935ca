"""The OpenVINO UNet (Settings → Speed, `--openvino`): the same image as torch, the IR cache on
disk, and each case that falls back to torch with a note; tiny SD model, CPU."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline import Engine, GenerationRequest, Mode, openvino_unet
from pipeline.openvino_unet import (
    INSTALL,
    PREPARING,
    IRCache,
    OpenVinoUNet,
    available,
    ir_cache_dir,
    model_key,
    unsupported_family,
    use_openvino,
)
from pipeline.speed import SpeedOptions

# openvino is only ever imported through openvino_unet here: a plain `import openvino` would
# start its telemetry (and its threads).
pytestmark = pytest.mark.skipif(not available(), reason="openvino is not installed")
OPENVINO = SpeedOptions(openvino=True)


def request(model: Path, size: int = 64, **extra) -> GenerationRequest:
    return GenerationRequest(model=str(model), prompt="a red circle", steps=3, seed=7,
                             width=size, height=size, sampler="euler", **extra)  # fmt: skip


def engine(tmp_path: Path, options: SpeedOptions = OPENVINO) -> Engine:
    return Engine(tmp_path / "out", device="cpu", speed=options)


def pixels(result) -> np.ndarray:
    return np.asarray(result.image).astype(np.float64)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a - b) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def dispatcher(run_engine: Engine) -> OpenVinoUNet:
    found = run_engine.model.speed.openvino  # type: ignore[union-attr]
    assert isinstance(found, OpenVinoUNet)
    return found


def warm(run_engine: Engine, model: Path) -> OpenVinoUNet:
    """The first run: torch while the IR is prepared in the background; then waits for it."""
    first = run_engine.run(request(model))[0]
    assert PREPARING in first.notes
    found = dispatcher(run_engine)
    found.wait()
    assert found.compiled is not None, found.failure
    return found


@pytest.fixture
def exact(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(openvino_unet, "PRECISION", {"INFERENCE_PRECISION_HINT": "f32"})


@pytest.fixture
def conversions(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts calls of openvino.convert_model (the slow part a cached IR skips)."""
    ov = openvino_unet.openvino()
    real, calls = ov.convert_model, []

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(ov, "convert_model", counted)
    return calls


@pytest.fixture
def plain_image(tiny_model_dir: Path, tmp_path: Path) -> np.ndarray:
    return pixels(engine(tmp_path, SpeedOptions()).run(request(tiny_model_dir))[0])


def test_openvino_f32_image_matches_torch_fp32(
    exact: None, tiny_model_dir: Path, tmp_path: Path, plain_image: np.ndarray
) -> None:
    fast = engine(tmp_path)
    ov = warm(fast, tiny_model_dir)
    result = fast.run(request(tiny_model_dir))[0]
    assert ov.ov_calls == 3  # every step through OpenVINO
    assert not any("OpenVINO" in note for note in result.notes)
    assert psnr(pixels(result), plain_image) >= 35


def test_openvino_default_precision_stays_close_to_torch(
    tiny_model_dir: Path, tmp_path: Path, plain_image: np.ndarray
) -> None:
    """OpenVINO's default: bf16 on CPUs with AMX (approximate), f32 on others."""
    fast = engine(tmp_path)
    ov = warm(fast, tiny_model_dir)
    image = pixels(fast.run(request(tiny_model_dir))[0])
    assert ov.ov_calls == 3
    assert psnr(image, plain_image) >= 30


def test_the_ir_is_cached_and_a_new_session_does_not_convert_again(
    exact: None, conversions: list[int], tiny_model_dir: Path, tmp_path: Path
) -> None:
    first = engine(tmp_path)
    warm(first, tiny_model_dir)
    image = pixels(first.run(request(tiny_model_dir))[0])
    assert len(conversions) == 1
    (entry,) = [p for p in ir_cache_dir().iterdir() if not p.name.startswith(".")]
    assert {p.name for p in entry.iterdir()} == {"unet.xml", "unet.bin", "manifest.json"}

    second = engine(tmp_path)  # a new model load: a new dispatcher, the same cache
    ov = warm(second, tiny_model_dir)
    assert len(conversions) == 1 and ov.conversions == 0
    assert np.array_equal(pixels(second.run(request(tiny_model_dir))[0]), image)


@pytest.mark.parametrize("damage", ["truncated", "altered"])
def test_a_damaged_or_half_written_cache_entry_is_rebuilt(
    damage: str,
    exact: None,
    conversions: list[int],
    tiny_model_dir: Path,
    tmp_path: Path,
    plain_image: np.ndarray,
) -> None:
    warm(engine(tmp_path), tiny_model_dir)
    (entry,) = list(ir_cache_dir().iterdir())
    weights = entry / "unet.bin"
    whole = weights.read_bytes()
    if damage == "truncated":
        weights.write_bytes(whole[: len(whole) // 2])
    else:  # the same size, one weight changed: only the manifest's hash tells
        middle = len(whole) // 2
        weights.write_bytes(whole[:middle] + bytes([whole[middle] ^ 0xFF]) + whole[middle + 1 :])
    stale = ir_cache_dir() / ".part-left-by-a-crash"  # a write that never finished, long ago
    stale.mkdir()
    os.utime(stale, (0, 0))

    fast = engine(tmp_path)
    ov = warm(fast, tiny_model_dir)
    assert len(conversions) == 2 and ov.conversions == 1
    assert weights.read_bytes() == whole  # rebuilt: the same conversion of the same weights
    assert psnr(pixels(fast.run(request(tiny_model_dir))[0]), plain_image) >= 35
    assert not stale.exists()


def test_cache_entries_stay_inside_their_folder(tmp_path: Path) -> None:
    cache = IRCache(tmp_path / "openvino")
    for bad in ("../escape", "a" * 39, "A" * 40, "/etc"):
        with pytest.raises(ValueError):
            cache.entry(bad)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "manifest.json").write_text("{}")
    cache.root.mkdir()
    key = "0" * 40
    (cache.root / key).symlink_to(outside, target_is_directory=True)
    with pytest.raises(ValueError):  # the link resolves outside: never read
        cache.load(key)
    assert (outside / "manifest.json").exists()


def test_a_new_size_uses_the_same_ir(
    exact: None, conversions: list[int], tiny_model_dir: Path, tmp_path: Path
) -> None:
    fast = engine(tmp_path)
    ov = warm(fast, tiny_model_dir)
    result = fast.run(request(tiny_model_dir, size=96))[0]
    plain = engine(tmp_path, SpeedOptions()).run(request(tiny_model_dir, size=96))[0]
    assert result.image.shape[:2] == (96, 96)
    assert ov.ov_calls == 3 and len(conversions) == 1  # dynamic shapes: no second conversion
    assert psnr(pixels(result), pixels(plain)) >= 35


def test_a_size_the_ir_cannot_take_runs_in_torch_with_a_note(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    fast = engine(tmp_path)
    ov = warm(fast, tiny_model_dir)
    result = fast.run(request(tiny_model_dir, size=72))[0]  # latents 9×9: the upsampler's 2×
    plain = engine(tmp_path, SpeedOptions()).run(request(tiny_model_dir, size=72))[0]
    assert ov.ov_calls == 0
    assert any("not a multiple of 16 px" in note for note in result.notes)
    assert np.array_equal(pixels(result), pixels(plain))


def test_without_openvino_torch_runs_with_a_note_saying_how_to_install(
    monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path, tmp_path: Path, plain_image: np.ndarray
) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)  # `import openvino` raises ImportError
    result = engine(tmp_path).run(request(tiny_model_dir))[0]
    assert any(INSTALL in note for note in result.notes)
    assert np.array_equal(pixels(result), plain_image)


def test_a_failing_conversion_falls_back_to_torch_with_a_note(
    monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path, tmp_path: Path, plain_image: np.ndarray
) -> None:
    def unsupported(*_args, **_kwargs):
        raise RuntimeError("Cannot convert operation aten::weird")

    monkeypatch.setattr(openvino_unet.openvino(), "convert_model", unsupported)
    fast = engine(tmp_path)
    fast.run(request(tiny_model_dir))
    dispatcher(fast).wait()
    result = fast.run(request(tiny_model_dir))[0]
    assert any("aten::weird" in note and "PyTorch ran it" in note for note in result.notes)
    assert np.array_equal(pixels(result), plain_image)
    assert list(ir_cache_dir().glob("*")) == []  # nothing half-written left behind


def test_an_active_lora_runs_in_torch_with_a_note(tiny_model_dir: Path, tmp_path: Path) -> None:
    from safetensors.torch import save_file

    from tests.lora_files import kohya_lora

    fast = engine(tmp_path)
    ov = warm(fast, tiny_model_dir)
    path = tmp_path / "style.safetensors"
    save_file(kohya_lora(fast.model.pipeline(Mode.TXT2IMG), seed=1, scale=0.5), str(path))
    with_lora = request(tiny_model_dir, loras=((str(path), 1.0),))
    result = fast.run(with_lora)[0]
    plain = engine(tmp_path, SpeedOptions()).run(with_lora)[0]
    assert ov.ov_calls == 0
    assert any("a LoRA is active" in note for note in result.notes)
    assert np.array_equal(pixels(result), pixels(plain))
    fast.run(request(tiny_model_dir))  # LoRA off again: OpenVINO again
    assert ov.ov_calls == 3
    # The loaded (now off) LoRA leaves the cache key as it was: no second conversion.
    assert model_key(ov.unet) == model_key(engine(tmp_path).load(str(tiny_model_dir)).pipeline(
        Mode.TXT2IMG).unet)  # fmt: skip


def test_controlnet_residuals_run_the_torch_unet(tiny_model_dir: Path, tmp_path: Path) -> None:
    import torch

    fast = engine(tmp_path)
    ov = warm(fast, tiny_model_dir)
    unet = fast.model.pipeline(Mode.TXT2IMG).unet  # type: ignore[union-attr]
    sample, text = torch.randn(1, 4, 8, 8), torch.randn(1, 77, 32)
    control = {  # a ControlNet's outputs for this UNet's blocks
        "down_block_additional_residuals": [
            torch.randn(1, c, s, s) for c, s in ((32, 8), (32, 8), (32, 4), (64, 4))
        ],
        "mid_block_additional_residual": torch.randn(1, 64, 4, 4),
    }
    with torch.inference_mode():
        got = unet(sample, 500, text, **control).sample
        eager = type(unet).forward(unet, sample, 500, text, **control).sample
    assert torch.equal(got, eager) and ov.ov_calls == 0
    assert ov.run_notes() == [
        "OpenVINO UNet: not used for this image (a ControlNet is active); PyTorch ran it."
    ]


def test_other_devices_and_families_are_refused_by_name(tiny_model_dir: Path) -> None:
    from diffusers import UNet2DConditionModel

    sd = Engine(tiny_model_dir.parent / "out", device="cpu").load(str(tiny_model_dir))
    unet = sd.pipeline(Mode.TXT2IMG).unet
    assert use_openvino(None, unet, "cuda") == (None, "OpenVINO UNet runs on the CPU only; "
                                                "this cuda run used PyTorch.")  # fmt: skip
    assert unsupported_family(unet) is None
    sdxl = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, cross_attention_dim=64,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), attention_head_dim=8,
        addition_embed_type="text_time", addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=80,
    )  # fmt: skip
    assert unsupported_family(sdxl) == "SDXL is not supported yet"
    assert OpenVinoUNet(sdxl, IRCache(Path("unused"))).start_warmup() is False


def test_openvino_is_imported_without_its_telemetry() -> None:
    code = (
        "import sys; from pipeline.openvino_unet import openvino; ov = openvino(); "
        "ov.convert_model; print('openvino_telemetry' in sys.modules, 'openvino' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


def test_cli_openvino_converts_before_the_first_image_and_reuses_the_cache(
    conversions: list[int], tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from pipeline.cli import main

    args = ["generate", "--prompt", "a red circle", "--model", str(tiny_model_dir), "--steps",
            "2", "--seed", "3", "--width", "64", "--height", "64", "--device", "cpu",
            "--out", str(tmp_path / "o")]  # fmt: skip
    assert main([*args, "--openvino"]) == 0
    first = capsys.readouterr()
    assert "OpenVINO UNet: converting it" in first.err and "PyTorch" not in first.err
    assert len(conversions) == 1
    assert main([*args, "--openvino"]) == 0
    assert len(conversions) == 1  # the second process-like run read the cache
    fast = Path(capsys.readouterr().out.split("\t")[0])
    assert main(args) == 0
    plain = Path(capsys.readouterr().out.split("\t")[0])
    assert psnr(pixels_of(fast), pixels_of(plain)) >= 30
    assert main([*args, "--openvino", "--server", "http://127.0.0.1:1"]) == 2
    assert "--openvino" in capsys.readouterr().err


def pixels_of(path: Path) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB")).astype(np.float64)


def small_ir(scale: float = 1.0):
    """A small converted model (a 256→256 linear layer) whose weights can be fp16 values."""
    import torch

    layer = torch.nn.Linear(256, 256)
    with torch.no_grad():
        layer.weight.mul_(scale)
    return layer, openvino_unet.openvino().convert_model(layer, example_input=torch.zeros(1, 256))


def test_an_fp16_models_ir_is_stored_in_half_the_space_with_the_same_output(
    tmp_path: Path,
) -> None:
    import torch

    layer, _ = small_ir()
    assert not openvino_unet.fits_fp16(layer)  # random fp32 weights: kept as they are
    with torch.no_grad():
        for parameter in layer.parameters():  # as if loaded from an fp16 file and upcast
            parameter.copy_(parameter.half().float())
    assert openvino_unet.fits_fp16(layer)
    model = openvino_unet.openvino().convert_model(layer, example_input=torch.zeros(1, 256))
    cache = IRCache(tmp_path / "openvino")
    full, half = "1" * 40, "2" * 40
    cache.store(full, model, fp16=False)
    cache.store(half, model, fp16=True)
    full_bytes = (cache.entry(full) / "unet.bin").stat().st_size
    half_bytes = (cache.entry(half) / "unet.bin").stat().st_size
    assert half_bytes < 0.55 * full_bytes
    core = openvino_unet.openvino().Core()
    exact = {"INFERENCE_PRECISION_HINT": "f32"}
    x = np.random.default_rng(0).standard_normal((1, 256)).astype(np.float32)
    outputs = [core.compile_model(cache.load(key), "CPU", exact)([x])[0] for key in (full, half)]
    assert np.array_equal(outputs[0], outputs[1])  # not one weight changed
    assert np.allclose(outputs[0], layer(torch.from_numpy(x)).detach().numpy(), atol=1e-5)


def test_the_cache_keeps_the_most_recently_used_entries(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(openvino_unet, "MAX_ENTRIES", 2)
    _, model = small_ir()
    cache = IRCache(tmp_path / "openvino")
    a, b, c = ("a" * 40, "b" * 40, "c" * 40)
    cache.store(a, model)
    cache.store(b, model)
    os.utime(cache.entry(a) / "manifest.json", (1, 1))  # a was used long ago…
    os.utime(cache.entry(b) / "manifest.json", (2, 2))
    assert cache.load(a) is not None  # …and now again: b is the oldest
    cache.store(c, model)
    assert cache.keys() == [c, a]
    assert not cache.entry(b).exists()


def test_a_failing_conversion_is_told_once_in_the_cli(
    monkeypatch: pytest.MonkeyPatch,
    tiny_model_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    from pipeline.cli import main

    def unsupported(*_args, **_kwargs):
        raise RuntimeError("Cannot convert operation aten::weird")

    monkeypatch.setattr(openvino_unet.openvino(), "convert_model", unsupported)
    args = ["generate", "--prompt", "a red circle", "--model", str(tiny_model_dir), "--steps",
            "2", "--seed", "3", "--width", "64", "--height", "64", "--device", "cpu",
            "--out", str(tmp_path / "o"), "--openvino"]  # fmt: skip
    assert main(args) == 0  # the image is made with PyTorch
    err = capsys.readouterr().err
    assert err.count("aten::weird") == 1


def test_tracing_warnings_are_not_shown(tiny_model_dir: Path, tmp_path: Path) -> None:
    import warnings

    import torch

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warm(engine(tmp_path), tiny_model_dir)
    assert not [w for w in caught if issubclass(w.category, torch.jit.TracerWarning)]
