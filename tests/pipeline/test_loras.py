"""LoRAs on tiny real models: kohya layout, equal to plain diffusers, weights, refusals, tags."""

import pickle

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from pipeline import Engine, GenerationRequest, read_image_info
from pipeline.errors import ModelError, RequestError
from pipeline.metadata import parse_parameters
from pipeline.request import Mode
from pipeline.samplers import make_scheduler
from tests.lora_files import kohya_lora

STEPS = 2


def request(model_dir, **changes):
    base = dict(prompt="ab", width=64, height=64, steps=STEPS, seed=7, sampler="euler",
                model=str(model_dir))  # fmt: skip
    return GenerationRequest(**{**base, **changes})


def image(engine, model_dir, **changes) -> np.ndarray:
    return engine.run(request(model_dir, **changes))[0].image


def base_pipe(engine, model_dir):
    return engine.load(str(model_dir)).pipelines[Mode.TXT2IMG]


@pytest.fixture(scope="module")
def sd_engine(tmp_path_factory):
    from tests.tiny_model import save_tiny_model

    folder = save_tiny_model(tmp_path_factory.mktemp("lora-model") / "tiny-sd")
    engine = Engine(tmp_path_factory.mktemp("lora-out"), device="cpu")
    engine.load(str(folder))
    return engine, folder


@pytest.fixture(scope="module")
def loras(sd_engine, tmp_path_factory):
    """Two kohya-layout LoRA files for the tiny SD model, in a LoRA folder."""
    engine, folder = sd_engine
    pipe = base_pipe(engine, folder)
    lora_dir = tmp_path_factory.mktemp("loras")
    paths = []
    for seed, name in ((1, "first"), (2, "second")):
        path = lora_dir / f"{name}.safetensors"
        save_file(kohya_lora(pipe, seed=seed), str(path))
        paths.append(path)
    return lora_dir, paths


@pytest.fixture(scope="module")
def base_image(sd_engine):
    engine, folder = sd_engine
    return image(engine, folder)


def diffusers_reference(folder, lora_path, weight, pipeline_class, seed=7):
    """The same generation with plain diffusers: from_pretrained + load_lora_weights."""
    pipe = pipeline_class.from_pretrained(str(folder))
    pipe.set_progress_bar_config(disable=True)
    pipe.scheduler = make_scheduler("euler", pipe.scheduler.config)
    pipe.load_lora_weights(str(lora_path.parent), weight_name=lora_path.name, adapter_name="x")
    pipe.set_adapters(["x"], [weight])
    generator = [torch.Generator("cpu").manual_seed(seed)]
    with torch.inference_mode():
        out = pipe("ab", num_inference_steps=STEPS, guidance_scale=7.0, width=64, height=64,
                   generator=generator, output_type="np").images  # fmt: skip
    return (np.clip(out[0], 0.0, 1.0) * 255.0).round().astype(np.uint8)


def test_kohya_lora_changes_the_image_and_equals_plain_diffusers(sd_engine, loras, base_image):
    from diffusers import StableDiffusionPipeline

    engine, folder = sd_engine
    path = loras[1][0]
    ours = image(engine, folder, loras=((str(path), 0.8),), prompt_style="pipeline")
    assert np.abs(ours.astype(int) - base_image.astype(int)).max() > 0
    assert np.array_equal(ours, diffusers_reference(folder, path, 0.8, StableDiffusionPipeline))


def test_weight_zero_and_no_lora_give_the_base_image_bit_for_bit(sd_engine, loras, base_image):
    engine, folder = sd_engine
    first, second = (str(p) for p in loras[1])
    assert np.array_equal(image(engine, folder, loras=((first, 0.0),)), base_image)
    assert np.array_equal(image(engine, folder, loras=((first, 0.0), (second, 0.0))), base_image)
    both = image(engine, folder, loras=((first, 0.5), (second, 0.5)))
    one = image(engine, folder, loras=((first, 0.5),))
    assert np.abs(both.astype(int) - one.astype(int)).max() > 0
    assert np.array_equal(image(engine, folder), base_image)  # all off again


def test_switching_loras_never_reloads_the_base_model(sd_engine, loras):
    engine, folder = sd_engine
    model = engine.load(str(folder))
    unet_weight = model.pipelines[Mode.TXT2IMG].unet.conv_in.weight
    pointer = unet_weight.data_ptr()
    first, second = (str(p) for p in loras[1])
    for pair in ((first, 1.0), (second, 1.0), (first, 0.3)):
        image(engine, folder, loras=(pair,))
    assert engine.load(str(folder)) is model
    assert model.pipelines[Mode.TXT2IMG].unet.conv_in.weight.data_ptr() == pointer
    state = model.lora_state
    assert state.bytes_read == sum(p.stat().st_size for p in loras[1])  # each file read once


def damaged(tmp_path, pipe, kind):
    state = kohya_lora(pipe, seed=3)
    path = tmp_path / f"{kind}.safetensors"
    if kind == "pickle":
        path.write_bytes(pickle.dumps({"weights": 1}))
        return path, "pickle"
    if kind == "ckpt":
        path = tmp_path / "old.ckpt"
        path.write_bytes(b"anything")
        return path, "pickle"
    if kind == "nan":
        key = next(iter(state))
        state[key] = state[key].clone()
        state[key][0, 0] = float("nan")
    if kind == "unknown":
        state["lora_unet_no_such_layer.lora_down.weight"] = torch.zeros(4, 32)
    if kind == "sdxl":
        state = {k.replace("lora_te_", "lora_te1_"): v for k, v in state.items()}
    if kind == "width":
        state = {k: (torch.zeros(v.shape[0], 2048) if k.endswith("attn2_to_k.lora_down.weight")
                     else v) for k, v in state.items()}  # fmt: skip
    if kind == "lycoris":
        state = {"lora_unet_x.hada_w1_a": torch.zeros(2, 2)}
    save_file(state, str(path))
    if kind == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        return path, "truncated"
    reason = {"nan": "NaN", "unknown": "name no layer", "sdxl": "SDXL LoRA",
              "width": "another model family", "lycoris": "LyCORIS"}[kind]  # fmt: skip
    return path, reason


@pytest.mark.parametrize(
    "kind", ["pickle", "ckpt", "truncated", "nan", "unknown", "sdxl", "width", "lycoris"]
)
def test_bad_lora_files_are_refused_by_name_and_leave_the_model_untouched(
    sd_engine, tmp_path, kind
):
    engine, folder = sd_engine
    path, reason = damaged(tmp_path, base_pipe(engine, folder), kind)
    with pytest.raises(ModelError, match=reason) as refused:
        engine.run(request(folder, loras=((str(path), 1.0),)))
    assert path.stem in str(refused.value) or path.name in str(refused.value)
    pipe = base_pipe(engine, folder)
    assert all(f"lora{k}" not in str(pipe.get_list_adapters()) for k in range(100, 101))


def test_after_a_refused_lora_the_next_image_is_the_base_image(sd_engine, tmp_path, base_image):
    engine, folder = sd_engine
    path, _ = damaged(tmp_path, base_pipe(engine, folder), "width")
    with pytest.raises(ModelError):
        engine.run(request(folder, loras=((str(path), 1.0),)))
    assert np.array_equal(image(engine, folder), base_image)


def test_prompt_tags_resolve_in_the_lora_folder_and_round_trip(sd_engine, loras, base_image):
    engine, folder = sd_engine
    lora_dir, (first, second) = loras
    tagged = engine.run(request(folder, prompt="ab <lora:first:0.7>", lora_dir=str(lora_dir),
                                loras=((str(second), 0.4),)))[0]  # fmt: skip
    explicit = image(engine, folder, loras=((str(second), 0.4), (str(first), 0.7)))
    # Same order (explicit LoRAs, then tags): peft sums adapters in order, bit for bit.
    assert np.array_equal(tagged.image, explicit)  # and the tag is stripped before encoding
    with Image.open(tagged.path) as saved:
        text = saved.text["parameters"]
    prompt_line = text.splitlines()[0]
    assert prompt_line == "ab <lora:first:0.7> <lora:second:0.4>"  # A1111's way
    a1111 = parse_parameters(text)
    from pipeline.loras import read_lora

    assert a1111["lora_hashes"] == {
        "first": read_lora(first).short_hash,
        "second": read_lora(second).short_hash,
    }
    ours = read_image_info(tagged.path)
    assert ours["prompt"] == "ab <lora:first:0.7>" and ours["loras"] == ((str(second), 0.4),)


def test_missing_tag_and_bad_tag_weight_are_clear(sd_engine, loras):
    engine, folder = sd_engine
    lora_dir = str(loras[0])
    with pytest.raises(RequestError, match=r"<lora:missing>: no LoRA named 'missing'"):
        engine.run(request(folder, prompt="ab <lora:missing:1>", lora_dir=lora_dir))
    with pytest.raises(RequestError, match="'abc' is not a number"):
        engine.run(request(folder, prompt="ab <lora:first:abc>", lora_dir=lora_dir))


@pytest.mark.parametrize(
    ("loras_value", "message"),
    [
        ((("a.safetensors", float("nan")),), "between -10 and 10"),
        ((("a.safetensors", 11),), "between -10 and 10"),
        ((("a.safetensors",),), "pair"),
        ("a.safetensors", "list of"),
        ((("", 1.0),), "non-empty"),
    ],
)
def test_bad_lora_request_values(loras_value, message):
    with pytest.raises(RequestError, match=message):
        GenerationRequest(prompt="a", loras=loras_value)


def test_cli_lora_flags(capsys, sd_engine, loras, tmp_path):
    from pipeline.cli import main

    folder = sd_engine[1]
    lora_dir, (first, _second) = loras
    args = ["generate", "--prompt", "ab <lora:second:0.5>", "--model", str(folder), "--steps",
            "1", "--lora", f"{first}:0.25", "--lora-dir", str(lora_dir), "--out", str(tmp_path),
            "--quiet"]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    [path] = tmp_path.glob("*.png")
    info = read_image_info(path)
    assert info["loras"] == ((str(first), 0.25),) and info["lora_dir"] == str(lora_dir)
    assert main([*args[:-5], "--lora-dir", str(tmp_path)]) == 2
    assert "no LoRA named 'second'" in capsys.readouterr().err


def test_sdxl_kohya_lora_with_both_text_encoders_equals_plain_diffusers(tmp_path_factory):
    from diffusers import StableDiffusionXLPipeline

    from tests.tiny_sdxl import save_tiny_sdxl

    folder = save_tiny_sdxl(tmp_path_factory.mktemp("xl-lora") / "tiny-xl")
    engine = Engine(tmp_path_factory.mktemp("xl-lora-out"), device="cpu")
    pipe = base_pipe(engine, folder)
    path = folder.parent / "xl.safetensors"
    state = kohya_lora(pipe, seed=5)
    assert any(k.startswith("lora_te2_") for k in state)
    save_file(state, str(path))
    base = image(engine, folder, prompt_style="pipeline")
    ours = image(engine, folder, loras=((str(path), 1.0),), prompt_style="pipeline")
    assert np.abs(ours.astype(int) - base.astype(int)).max() > 0
    assert np.array_equal(ours, diffusers_reference(folder, path, 1.0, StableDiffusionXLPipeline))
    assert np.array_equal(image(engine, folder, loras=((str(path), 0.0),)),
                          image(engine, folder))  # fmt: skip
    # An SD 1.x LoRA on SDXL is refused by family.
    sd_state = {k.replace("lora_te1_", "lora_te_"): v for k, v in state.items()
                if not k.startswith("lora_te2_")}  # fmt: skip
    save_file(sd_state, str(folder.parent / "sd.safetensors"))
    with pytest.raises(ModelError, match=r"SD 1\.x/2\.x LoRA; the loaded model is SDXL"):
        engine.run(request(folder, loras=((str(folder.parent / "sd.safetensors"), 1.0),)))


def test_diffusers_peft_format_lora_loads_and_equals_plain_diffusers(sd_engine, loras, tmp_path):
    """The same LoRA in diffusers/PEFT layout (`unet.….lora_A.weight`), as diffusers saves it."""
    from diffusers import StableDiffusionPipeline
    from peft.utils import get_peft_model_state_dict

    engine, folder = sd_engine
    donor = StableDiffusionPipeline.from_pretrained(str(folder))
    kohya_path = loras[1][0]
    donor.load_lora_weights(str(kohya_path.parent), weight_name=kohya_path.name, adapter_name="k")
    state = {}
    for part in ("unet", "text_encoder"):
        for key, value in get_peft_model_state_dict(getattr(donor, part), adapter_name="k").items():
            state[f"{part}.{key}"] = value.contiguous()
    assert any(".lora_A.weight" in k for k in state) and not any("lora_unet" in k for k in state)
    path = tmp_path / "peft_style.safetensors"
    save_file(state, str(path))
    ours = image(engine, folder, loras=((str(path), 0.6),), prompt_style="pipeline")
    assert np.array_equal(ours, diffusers_reference(folder, path, 0.6, StableDiffusionPipeline))
    assert not np.array_equal(ours, image(engine, folder, prompt_style="pipeline"))


def test_a_valid_file_whose_header_length_starts_like_a_pickle_is_read(tmp_path):
    """safetensors begins with the header length: 0x80 as its first byte is a pickle's opcode."""
    from pipeline.loras import read_lora

    path = tmp_path / "lucky.safetensors"
    tensors = {"lora_unet_x.alpha": torch.tensor(1.0)}
    for pad in range(200):
        save_file(tensors, str(path), metadata={"pad": "x" * pad})
        if path.read_bytes()[0] == 0x80:
            break
    assert path.read_bytes()[0] == 0x80
    assert set(read_lora(path).state) == set(tensors)
