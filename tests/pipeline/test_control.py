"""ControlNet in the engine: Brushwork's pixels equal plain diffusers' ControlNet pipelines, bit
for bit; the base weights are shared (nothing reloaded); bad models and images are refused."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pipeline import Cancelled, Engine, GenerationRequest, Mode, ModelError, RequestError
from pipeline.control import ControlUnit
from pipeline.samplers import make_scheduler
from tests.tiny_controlnet import build_tiny_controlnet, save_tiny_controlnet

SIZE = 64


@pytest.fixture(scope="module")
def tiny_cn(tiny_model_dir, tmp_path_factory) -> Path:
    return save_tiny_controlnet(tiny_model_dir, tmp_path_factory.mktemp("cn") / "tiny-cn")


@pytest.fixture(scope="module")
def tiny_cn_2(tiny_model_dir, tmp_path_factory) -> Path:
    return save_tiny_controlnet(tiny_model_dir, tmp_path_factory.mktemp("cn") / "tiny-cn-2", 7)


@pytest.fixture(scope="module")
def tiny_sdxl_dir(tmp_path_factory) -> Path:
    from tests.tiny_sdxl import save_tiny_sdxl

    return save_tiny_sdxl(tmp_path_factory.mktemp("sdxl") / "tiny-sdxl")


def control_image(seed: int = 1, size: int = SIZE) -> np.ndarray:
    """White strokes on black: a box outline placed by `seed`."""
    image = np.zeros((size, size, 3), np.uint8)
    k = 8 + seed * 4 % (size // 2)
    image[k : k + 20, k : k + 2] = 255
    image[k : k + 20, k + 18 : k + 20] = 255
    image[k : k + 2, k : k + 20] = 255
    image[k + 18 : k + 20, k : k + 20] = 255
    return image


def request(model: Path, *units: ControlUnit, **changes) -> GenerationRequest:
    values = dict(
        prompt="a red circle",
        width=SIZE,
        height=SIZE,
        steps=3,
        seed=11,
        sampler="euler",
        guidance=7.0,
        prompt_style="pipeline",
        model=str(model),
    )
    return GenerationRequest(**{**values, **changes}, controls=units)


def reference(model_dir: Path, nets: list, images: list, units: list[ControlUnit], **kwargs):
    """Plain diffusers: the ControlNet pipeline loaded fresh, called with the same inputs."""
    from diffusers import AutoPipelineForText2Image, ControlNetModel
    from diffusers.models.controlnets import MultiControlNetModel

    loaded = [ControlNetModel.from_pretrained(n) if isinstance(n, Path) else n for n in nets]
    net = loaded[0] if len(loaded) == 1 else MultiControlNetModel(loaded)
    pipe = AutoPipelineForText2Image.from_pretrained(model_dir, controlnet=net)
    pipe.scheduler = make_scheduler("euler", pipe.scheduler.config)
    one = len(units) == 1
    out = pipe(
        prompt="a red circle",
        num_inference_steps=3,
        guidance_scale=7.0,
        width=SIZE,
        height=SIZE,
        output_type="np",
        generator=[torch.Generator("cpu").manual_seed(11)],
        image=images[0] if one else images,
        controlnet_conditioning_scale=units[0].strength if one else [u.strength for u in units],
        control_guidance_start=units[0].start if one else [u.start for u in units],
        control_guidance_end=units[0].end if one else [u.end for u in units],
        **kwargs,
    ).images
    return (np.clip(out, 0.0, 1.0) * 255.0).round().astype(np.uint8)[0]


def pil(array: np.ndarray) -> Image.Image:
    return Image.fromarray(array)


def test_sd15_controlnet_equals_plain_diffusers_bit_for_bit(engine, tiny_model_dir, tiny_cn):
    unit = ControlUnit(control_image(), str(tiny_cn), strength=0.8, start=0.0, end=0.7)
    ours = engine.run(request(tiny_model_dir, unit))[0].image
    expected = reference(tiny_model_dir, [tiny_cn], [pil(control_image())], [unit])
    assert np.array_equal(ours, expected)
    plain = engine.run(request(tiny_model_dir))[0].image
    assert np.abs(ours.astype(int) - plain).mean() > 1  # the control image does steer


def test_two_units_equal_diffusers_multicontrolnet(engine, tiny_model_dir, tiny_cn, tiny_cn_2):
    units = [
        ControlUnit(control_image(1), str(tiny_cn), strength=1.2),
        ControlUnit(control_image(3), str(tiny_cn_2), strength=0.5, start=0.3, end=1.0),
    ]
    ours = engine.run(request(tiny_model_dir, *units))[0].image
    images = [pil(control_image(1)), pil(control_image(3))]
    assert np.array_equal(ours, reference(tiny_model_dir, [tiny_cn, tiny_cn_2], images, units))


def test_sdxl_controlnet_equals_plain_diffusers_bit_for_bit(tiny_sdxl_dir, tmp_path):
    cn = save_tiny_controlnet(tiny_sdxl_dir, tmp_path / "xl-cn")
    engine = Engine(tmp_path / "out", device="cpu")
    unit = ControlUnit(control_image(), str(cn), strength=1.0)
    ours = engine.run(request(tiny_sdxl_dir, unit))[0].image
    assert np.array_equal(ours, reference(tiny_sdxl_dir, [cn], [pil(control_image())], [unit]))


def test_controlnet_pipelines_share_the_base_weights(engine, tiny_model_dir, tiny_cn):
    """from_pipe: the ControlNet pipelines hold the loaded UNet/VAE/text encoder themselves,
    so 0 bytes of the base model are loaded again; the next plain run is unchanged."""
    before = engine.run(request(tiny_model_dir))[0].image
    model = engine.model
    base = model.pipelines[Mode.TXT2IMG]
    pointers = {n: p.data_ptr() for n, p in base.unet.named_parameters()}
    init = np.full((SIZE, SIZE, 3), 128, np.uint8)
    unit = ControlUnit(control_image(), str(tiny_cn))
    for mode, extra in (
        (Mode.TXT2IMG, {}),
        (Mode.IMG2IMG, {"init_image": init}),
        (Mode.INPAINT, {"init_image": init, "mask": np.full((SIZE, SIZE), 255, np.uint8)}),
    ):
        engine.run(request(tiny_model_dir, unit, mode=mode, **extra))
        assert engine.model is model  # not reloaded
        pipe = next(iter(model.control_pipelines.values()))
        for name in ("unet", "vae", "text_encoder", "tokenizer"):
            assert getattr(pipe, name) is getattr(base, name), (mode, name)
    assert {n: p.data_ptr() for n, p in base.unet.named_parameters()} == pointers
    assert np.array_equal(engine.run(request(tiny_model_dir))[0].image, before)


def test_img2img_with_control_equals_diffusers(engine, tiny_model_dir, tiny_cn):
    """(diffusers' img2img ControlNet pipeline defaults to strength 0.8: given explicitly.)"""
    from diffusers import AutoPipelineForImage2Image, ControlNetModel

    init = np.random.default_rng(3).integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8)
    unit = ControlUnit(control_image(), str(tiny_cn), strength=1.0)
    ours = engine.run(
        request(tiny_model_dir, unit, mode=Mode.IMG2IMG, init_image=init, strength=0.6, steps=5)
    )[0].image
    pipe = AutoPipelineForImage2Image.from_pretrained(
        tiny_model_dir, controlnet=ControlNetModel.from_pretrained(tiny_cn)
    )
    pipe.scheduler = make_scheduler("euler", pipe.scheduler.config)
    out = pipe(
        prompt="a red circle",
        image=pil(init),
        control_image=pil(control_image()),
        controlnet_conditioning_scale=1.0,
        strength=0.6,
        num_inference_steps=5,
        guidance_scale=7.0,
        output_type="np",
        generator=[torch.Generator("cpu").manual_seed(11)],
    ).images
    assert np.array_equal(ours, (np.clip(out, 0, 1) * 255).round().astype(np.uint8)[0])


def test_single_safetensors_file_loads_like_its_folder(engine, tiny_model_dir, tiny_cn, tmp_path):
    import shutil

    single = tmp_path / "my-cn.safetensors"
    shutil.copy(tiny_cn / "diffusion_pytorch_model.safetensors", single)
    unit = ControlUnit(control_image(), str(tiny_cn))
    from_folder = engine.run(request(tiny_model_dir, unit))[0].image
    result = engine.run(request(tiny_model_dir, ControlUnit(control_image(), str(single))))[0]
    assert np.array_equal(result.image, from_folder)


def test_control_image_of_another_size_is_resized_with_a_note(engine, tiny_model_dir, tiny_cn):
    big = np.asarray(pil(control_image()).resize((96, 80)))
    result = engine.run(request(tiny_model_dir, ControlUnit(big, str(tiny_cn))))[0]
    assert any("Control image 0 (96×80) was resized to 64×64" in n for n in result.notes)


def test_cancel_stops_a_controlled_run(engine, tiny_model_dir, tiny_cn):
    cancel = threading.Event()
    steps = []

    def on_step(update):
        steps.append(update.step)
        assert update.preview is not None  # previews still come
        cancel.set()

    with pytest.raises(Cancelled):
        engine.run(
            request(tiny_model_dir, ControlUnit(control_image(), str(tiny_cn))), on_step, cancel
        )
    assert steps == [1]


# --- bad input ------------------------------------------------------------------------------
def test_sd15_controlnet_on_sdxl_is_refused_by_family(tiny_sdxl_dir, tiny_cn, tmp_path):
    engine = Engine(tmp_path / "out", device="cpu")
    with pytest.raises(ModelError, match=r"tiny-cn is for .*loaded model is SDXL"):
        engine.run(request(tiny_sdxl_dir, ControlUnit(control_image(), str(tiny_cn))))
    assert not list((tmp_path / "out").glob("*.png"))
    engine.run(request(tiny_sdxl_dir))  # the next plain generation still works


def test_single_file_of_another_family_is_refused(engine, tiny_model_dir, tiny_sdxl_dir, tmp_path):
    from safetensors.torch import save_file

    state = build_tiny_controlnet(tiny_sdxl_dir).state_dict()
    path = tmp_path / "xl-cn.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    with pytest.raises(ModelError, match="does not fit the loaded model"):
        engine.run(request(tiny_model_dir, ControlUnit(control_image(), str(path))))


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("cn.pth", b"\x80\x04K\x01.", "pickle file"),
        ("cn.bin", b"whatever", "pickle file"),
        ("cn.safetensors", b"\xff" * 64, "Could not read ControlNet cn.safetensors"),
        ("cn.safetensors", (10**12).to_bytes(8, "little") + b"{}", "Could not read ControlNet"),
    ],
)
def test_pickle_and_corrupt_files_are_refused(
    engine, tiny_model_dir, tmp_path, name, content, message
):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ModelError, match=message):
        engine.run(request(tiny_model_dir, ControlUnit(control_image(), str(path))))


def test_folder_with_only_pickle_weights_is_refused(engine, tiny_model_dir, tiny_cn, tmp_path):
    folder = tmp_path / "pickled"
    folder.mkdir()
    (folder / "config.json").write_text((tiny_cn / "config.json").read_text())
    (folder / "diffusion_pytorch_model.bin").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(ModelError, match="only pickle weights"):
        engine.run(request(tiny_model_dir, ControlUnit(control_image(), str(folder))))


def test_hub_id_not_cached_offline_is_a_clear_message(engine, tiny_model_dir):
    with pytest.raises(ModelError, match=r"not in the Hugging Face cache.*offline"):
        engine.run(request(tiny_model_dir, ControlUnit(control_image(), "someone/some-cn")))


def test_empty_scribble_is_refused_and_nothing_is_written(engine, tiny_model_dir, tiny_cn):
    blank = np.full((SIZE, SIZE, 3), 255, np.uint8)
    unit = ControlUnit(blank, str(tiny_cn), module="scribble")
    with pytest.raises(RequestError, match="The scribble is empty"):
        engine.run(request(tiny_model_dir, unit))
    assert not list(engine.output_dir.glob("*.png"))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"strength": 2.5}, "strength must be between 0 and 2"),
        ({"strength": float("nan")}, "strength must be between 0 and 2"),
        ({"start": 0.8, "end": 0.2}, "start 0.8 is after end 0.2"),
        ({"end": 1.5}, "end must be between 0 and 1"),
        ({"module": "sketchy"}, "unknown control type 'sketchy'"),
        ({"model": " "}, "needs a ControlNet model"),
        ({"image": np.zeros((8, 8), np.uint8)}, "must be RGB"),
    ],
)
def test_bad_units_are_refused_with_a_message(changes, message):
    values = {"image": control_image(), "model": "cn", **changes}
    with pytest.raises(RequestError, match=message):
        GenerationRequest(prompt="x", controls=(ControlUnit(**values),))


def test_control_units_are_checked_and_frozen():
    image = control_image()
    unit = GenerationRequest(prompt="x", controls=[ControlUnit(image, "cn", strength=1)])
    stored = unit.controls[0]
    assert isinstance(unit.controls, tuple) and stored.strength == 1.0
    assert not stored.image.flags.writeable
    image[:] = 7  # the caller's array changing later does not change the request
    assert stored.image.max() == 255
    with pytest.raises(RequestError, match="At most 4"):
        GenerationRequest(prompt="x", controls=[ControlUnit(image, "cn")] * 5)


def test_original_layout_file_loads_like_its_folder(engine, tiny_model_dir, tiny_cn, tmp_path):
    from tests.tiny_controlnet import save_original_layout

    single = save_original_layout(tiny_model_dir, tiny_cn, tmp_path / "control_tiny.safetensors")
    from_folder = engine.run(request(tiny_model_dir, ControlUnit(control_image(), str(tiny_cn))))
    result = engine.run(request(tiny_model_dir, ControlUnit(control_image(), str(single))))
    assert np.array_equal(result[0].image, from_folder[0].image)


def test_hires_fix_with_control_resizes_the_control_image_for_the_second_pass(
    engine, tiny_model_dir, tiny_cn
):
    unit = ControlUnit(control_image(), str(tiny_cn))
    [result] = engine.run(request(tiny_model_dir, unit, hires_scale=2.0, hires_steps=2))
    assert result.image.shape == (128, 128, 3)
    assert any("Control image 0 (64×64) was resized to 128×128" in n for n in result.notes)


def test_control_with_a_lora_equals_diffusers_controlnet_pipeline_with_that_lora(
    tiny_model_dir, tiny_cn, tmp_path
):
    from diffusers import AutoPipelineForText2Image, ControlNetModel
    from safetensors.torch import save_file

    from tests.lora_files import kohya_lora

    engine = Engine(tmp_path / "out", device="cpu")  # its own: LoRA adapters stay loaded
    lora = tmp_path / "style.safetensors"
    save_file(kohya_lora(engine.load(str(tiny_model_dir)).pipelines[Mode.TXT2IMG], seed=3),
              str(lora))  # fmt: skip
    unit = ControlUnit(control_image(), str(tiny_cn))
    ours = engine.run(request(tiny_model_dir, unit, loras=((str(lora), 0.8),)))[0].image
    pipe = AutoPipelineForText2Image.from_pretrained(
        tiny_model_dir, controlnet=ControlNetModel.from_pretrained(tiny_cn)
    )
    pipe.scheduler = make_scheduler("euler", pipe.scheduler.config)
    pipe.load_lora_weights(str(tmp_path), weight_name=lora.name, adapter_name="x")
    pipe.set_adapters(["x"], [0.8])
    out = pipe(prompt="a red circle", image=pil(control_image()), num_inference_steps=3,
               guidance_scale=7.0, width=SIZE, height=SIZE, output_type="np",
               generator=[torch.Generator("cpu").manual_seed(11)]).images  # fmt: skip
    assert np.array_equal(ours, (np.clip(out, 0, 1) * 255).round().astype(np.uint8)[0])
    without = engine.run(request(tiny_model_dir, unit))[0].image
    assert not np.array_equal(ours, without)  # the LoRA did act under the ControlNet
