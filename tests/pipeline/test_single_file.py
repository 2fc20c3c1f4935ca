"""Single-file checkpoints: family detection, the shipped configs and tokenizers, offline loading.

The shipped configs describe full-size models (0.9–2.6 B parameters); building them is too slow
here, so they are instantiated on the meta device (no memory) and their parameter counts are
compared with the published models'. Loading itself is checked by recording what the real loader
passes to `from_single_file`; test_models.py loads a tiny checkpoint end to end.
"""

from __future__ import annotations

import json

import pytest

from pipeline import ModelError, parse_model_source
from pipeline.models import describe_source, load_text2image, resources_dir
from pipeline.single_file import (
    FAMILIES,
    SD1,
    SD2,
    SD2_BASE,
    SDXL,
    configs_dir,
    detect_family,
    load_tokenizers,
)

UNET = "model.diffusion_model."
PROBE = UNET + "output_blocks.11.1.transformer_blocks.0.norm1.bias"
TEXT_KEYS = {
    SD1: "cond_stage_model.transformer.text_model.embeddings.position_embedding.weight",
    SD2: "cond_stage_model.model.token_embedding.weight",
    SDXL: "conditioner.embedders.1.model.token_embedding.weight",
}
CAT_IDS = [49406, 320, 1125, 539, 320, 2368, 49407]  # "a photo of a cat", OpenAI's CLIP


def _checkpoint(path, *keys, in_channels=4, probe=None):
    """A safetensors file with the tensor names of an LDM checkpoint (values do not matter)."""
    import torch
    from safetensors.torch import save_file

    tensors = {UNET + "input_blocks.0.0.weight": torch.zeros(2, in_channels, 1, 1)}
    tensors.update({key: torch.zeros(1) for key in keys})
    if probe is not None:
        tensors[PROBE] = probe
    save_file(tensors, str(path))
    return path


def test_family_comes_from_tensor_names(tmp_path):
    import torch

    assert detect_family(_checkpoint(tmp_path / "a.safetensors", TEXT_KEYS[SD1])) is SD1
    assert detect_family(_checkpoint(tmp_path / "b.safetensors", TEXT_KEYS[SDXL])) is SDXL
    # SD 2.x: 768-v and 512-base differ only in weights; the probe's spread tells them apart.
    base = torch.linspace(-0.05, 0.05, 320)
    v_model = torch.linspace(-0.3, 0.3, 320)
    for probe, family in ((base, SD2_BASE), (v_model, SD2), (None, SD2)):
        path = _checkpoint(tmp_path / "c.safetensors", TEXT_KEYS[SD2], probe=probe)
        assert detect_family(path) is family
    marked = _checkpoint(tmp_path / "d.safetensors", TEXT_KEYS[SD2], "v_pred", probe=base)
    assert detect_family(marked) is SD2


@pytest.mark.parametrize(
    ("keys", "in_channels", "message"),
    [
        ((TEXT_KEYS[SD1],), 9, r"SD 1\.x checkpoint with a 9-channel UNet \(an inpainting"),
        ((TEXT_KEYS[SD2],), 9, r"SD 2\.x checkpoint with a 9-channel UNet"),
        (("conditioner.embedders.0.model.token_embedding.weight",), 4, "is an SDXL refiner"),
    ],
)
def test_variants_that_cannot_run_are_refused_by_name(tmp_path, keys, in_channels, message):
    path = _checkpoint(tmp_path / "x.safetensors", *keys, in_channels=in_channels)
    with pytest.raises(ModelError, match=message):
        detect_family(path)


def test_a_file_that_is_not_a_checkpoint_is_refused(tmp_path):
    import torch
    from safetensors.torch import save_file

    lora = tmp_path / "lora.safetensors"
    save_file({"lora_unet_down.weight": torch.zeros(1)}, str(lora))
    with pytest.raises(ModelError, match="does not look like a Stable Diffusion checkpoint"):
        detect_family(lora)


# Published sizes: SD 1.5 / SD 2.1 / SDXL base UNets, the shared VAE, CLIP ViT-L, OpenCLIP ViT-H
# (23 of its 24 layers, as SD 2 uses them) and OpenCLIP ViT-bigG with its projection.
PUBLISHED = {
    SD1: {"unet": 859_520_964, "vae": 83_653_863, "text_encoder": 123_060_480},
    SD2: {"unet": 865_910_724, "vae": 83_653_863, "text_encoder": 340_387_840},
    SD2_BASE: {"unet": 865_910_724, "vae": 83_653_863, "text_encoder": 340_387_840},
    SDXL: {"unet": 2_567_463_684, "vae": 83_653_863, "text_encoder": 123_060_480,
           "text_encoder_2": 694_659_840},
}  # fmt: skip


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.id)
def test_shipped_configs_describe_the_published_models(family):
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    folder = configs_dir() / family.id
    assert folder.parent == resources_dir() / "model_configs"
    builders = {
        "unet": lambda p: UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(p)),
        "vae": lambda p: AutoencoderKL.from_config(AutoencoderKL.load_config(p)),
        "text_encoder": lambda p: CLIPTextModel(CLIPTextConfig.from_pretrained(p)),
        "text_encoder_2": lambda p: CLIPTextModelWithProjection(CLIPTextConfig.from_pretrained(p)),
    }
    counts = {}
    with init_empty_weights():  # meta tensors: shapes without memory
        for part in PUBLISHED[family]:
            model = builders[part](str(folder / part))
            counts[part] = sum(p.numel() for p in model.parameters())
    assert counts == PUBLISHED[family]


def test_shipped_configs_hold_the_published_settings():
    def config(family, part, name="config.json"):
        return json.loads((configs_dir() / family.id / part / name).read_text())

    unets = {f: config(f, "unet") for f in FAMILIES}
    assert [unets[f]["cross_attention_dim"] for f in FAMILIES] == [768, 1024, 1024, 2048]
    assert [unets[f]["sample_size"] for f in FAMILIES] == [64, 96, 64, 128]  # 512/768/512/1024
    assert [unets[f]["use_linear_projection"] for f in FAMILIES] == [False, True, True, True]
    assert unets[SD2].get("upcast_attention") is True  # SD 2.1 768 overflows in fp16 without
    assert unets[SDXL]["addition_embed_type"] == "text_time"
    assert unets[SDXL]["projection_class_embeddings_input_dim"] == 2816  # 1280 + 6 × 256
    schedulers = {f: config(f, "scheduler", "scheduler_config.json") for f in FAMILIES}
    assert {f: s["prediction_type"] for f, s in schedulers.items()} == {
        SD1: "epsilon", SD2: "v_prediction", SD2_BASE: "epsilon", SDXL: "epsilon"}  # fmt: skip
    assert all(s["steps_offset"] == 1 for s in schedulers.values())
    assert config(SDXL, "vae")["scaling_factor"] == 0.13025
    assert config(SD1, "vae")["scaling_factor"] == 0.18215
    assert config(SDXL, "text_encoder_2")["projection_dim"] == 1280
    for family in FAMILIES:
        index = json.loads((configs_dir() / family.id / "model_index.json").read_text())
        expected = "StableDiffusionXLPipeline" if family.is_xl else "StableDiffusionPipeline"
        assert index["_class_name"] == expected


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.id)
def test_shipped_tokenizers_are_clips_with_each_familys_pad_token(family):
    tokenizers = load_tokenizers(configs_dir() / family.id, family)
    pads = {"tokenizer": 0 if family in (SD2, SD2_BASE) else 49407, "tokenizer_2": 0}
    assert set(tokenizers) == ({"tokenizer", "tokenizer_2"} if family.is_xl else {"tokenizer"})
    for name, tokenizer in tokenizers.items():
        ids = tokenizer("a photo of a cat", padding="max_length").input_ids
        assert ids[:7] == CAT_IDS and len(ids) == 77
        assert set(ids[7:]) == {pads[name]}, name  # SD 2.x / OpenCLIP pad with "!" (id 0)
        assert tokenizer.pad_token == ("!" if pads[name] == 0 else "<|endoftext|>")


def test_one_copy_of_the_vocabulary_and_a_few_megabytes_in_all():
    files = [p for p in configs_dir().rglob("*") if p.is_file()]
    assert [p.relative_to(configs_dir()).as_posix() for p in files if p.name == "vocab.json"] == [
        "clip-bpe/vocab.json"
    ]
    assert sum(p.stat().st_size for p in files) < 3 * 1024 * 1024
    assert "MIT" in (configs_dir() / "clip-bpe" / "LICENSE").read_text()


class _Recorder:
    """Stands in for from_single_file: records what the real loader passes it."""

    calls: list = []  # noqa: RUF012 -- reset per test by the fixture

    @classmethod
    def from_single_file(cls, path, **kwargs):
        cls.calls.append((cls.__name__, path, kwargs))
        return _FakePipe()


class _FakePipe:
    def to(self, device):
        return self

    def set_progress_bar_config(self, **kwargs):
        pass


@pytest.fixture
def recorded(monkeypatch):
    import diffusers

    _Recorder.calls = []
    for name in ("StableDiffusionPipeline", "StableDiffusionXLPipeline"):
        recorder = type(name, (_Recorder,), {})
        monkeypatch.setattr(diffusers, name, recorder)
    return _Recorder.calls


@pytest.mark.parametrize(
    ("family", "text_key", "probe_std"),
    [(SD1, TEXT_KEYS[SD1], None), (SD2, TEXT_KEYS[SD2], 0.2),
     (SD2_BASE, TEXT_KEYS[SD2], 0.03), (SDXL, TEXT_KEYS[SDXL], None)],
    ids=lambda v: getattr(v, "id", None),
)  # fmt: skip
def test_loader_passes_the_shipped_folder_and_tokenizers(tmp_path, recorded, family, text_key,
                                                         probe_std):  # fmt: skip
    import torch

    probe = None if probe_std is None else torch.linspace(-1, 1, 320) * probe_std / 0.58
    path = _checkpoint(tmp_path / "model.safetensors", text_key, probe=probe)
    source = parse_model_source(str(path))
    load_text2image(source, "cpu", None)
    [(pipeline_class, loaded_path, kwargs)] = recorded
    assert loaded_path == str(path)
    assert pipeline_class == (
        "StableDiffusionXLPipeline" if family.is_xl else "StableDiffusionPipeline"
    )
    assert kwargs["config"] == str(resources_dir() / "model_configs" / family.id)
    names = {"tokenizer", "tokenizer_2"} if family.is_xl else {"tokenizer"}
    assert names <= set(kwargs)
    for name in names:
        assert kwargs[name]("a photo of a cat").input_ids == CAT_IDS
    if not family.is_xl:
        assert kwargs["safety_checker"] is None and kwargs["feature_extractor"] is None
    assert describe_source(source) == f"{family.label} checkpoint"


def test_missing_shipped_configs_are_reported_not_fetched(tmp_path, monkeypatch):
    path = _checkpoint(tmp_path / "model.safetensors", TEXT_KEYS[SDXL])
    monkeypatch.setattr("pipeline.models.resources_dir", lambda: tmp_path / "nowhere")
    with pytest.raises(ModelError, match=r"SDXL base checkpoint, but its component configs are"):
        load_text2image(parse_model_source(str(path)), "cpu", None)


def test_tiny_sdxl_file_in_sgm_layout_loads_offline_and_matches_its_folder(tmp_path, monkeypatch):
    """The real from_single_file, fed the shipped mechanism with a tiny SDXL config folder."""
    import shutil

    import numpy as np

    from pipeline import Engine, GenerationRequest
    from tests.tiny_sdxl import save_sgm_checkpoint, save_tiny_sdxl

    folder = save_tiny_sdxl(tmp_path / "tiny-xl")
    checkpoint = save_sgm_checkpoint(folder, tmp_path / "tiny-xl.safetensors")
    configs = tmp_path / "resources" / "model_configs" / "sdxl"  # stands in for SDXL base's
    shutil.copytree(folder, configs, ignore=shutil.ignore_patterns("*.safetensors"))
    monkeypatch.setattr("pipeline.models.resources_dir", lambda: tmp_path / "resources")

    engine = Engine(tmp_path / "out", device="cpu")
    images, kinds = [], []
    for model in (checkpoint, folder):
        request = GenerationRequest(prompt="a red circle", width=64, height=64, steps=3, seed=5,
                                    model=str(model))  # fmt: skip
        images.append(engine.run(request)[0].image)
        kinds.append(engine.model.kind)
        assert type(engine.model.pipeline(request.mode)).__name__ == "StableDiffusionXLPipeline"
    assert kinds == ["SDXL base checkpoint", None]
    assert np.array_equal(images[0], images[1])  # every weight (both text encoders) carried over
