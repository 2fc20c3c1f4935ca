"""Model sources: folders, Hub ids from the local HF cache (offline), and clear errors."""

import shutil

import pytest

from pipeline import ModelError, SourceKind, parse_model_source
from pipeline.models import load_text2image
from pipeline.single_file import SD1, detect_family


def test_sources_are_recognised(tiny_model_dir, tmp_path):
    assert parse_model_source(str(tiny_model_dir)).kind is SourceKind.FOLDER
    file = tmp_path / "model.safetensors"
    file.write_bytes(b"")
    assert parse_model_source(str(file)).kind is SourceKind.SINGLE_FILE
    hub = parse_model_source("stabilityai/sd-turbo")
    assert hub.kind is SourceKind.HUB and hub.name == "stabilityai/sd-turbo"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing.safetensors", "Model file not found"),
        (lambda p: p, "not a diffusers model folder"),
        (lambda p: p / "weights.ckpt", "pickle checkpoint"),
        (lambda p: p / "notes.txt", "is not a model"),
        (lambda p: "no such thing", "neither an existing folder"),
    ],
)
def test_bad_sources_name_the_problem(tmp_path, make, message):
    target = make(tmp_path)
    if str(target).endswith((".ckpt", ".txt")):
        target.write_bytes(b"x")
    with pytest.raises(ModelError, match=message):
        parse_model_source(str(target))


def test_missing_bundled_model_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr("pipeline.models.resources_dir", lambda: tmp_path)
    with pytest.raises(ModelError, match="bundled model is missing"):
        parse_model_source(None)


def fake_hub_cache(hf_home, repo_id, model_dir):
    """The standard HF cache layout, as another tool's download would leave it."""
    repo = hf_home / "hub" / ("models--" + repo_id.replace("/", "--"))
    commit = "0123456789abcdef0123456789abcdef01234567"
    shutil.copytree(model_dir, repo / "snapshots" / commit)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)


def test_hub_id_loads_offline_from_the_shared_cache(tiny_model_dir):
    from tests.conftest import HF_HOME

    fake_hub_cache(HF_HOME, "someone/tiny-sd", tiny_model_dir)
    pipe = load_text2image(parse_model_source("someone/tiny-sd"), "cpu", None)
    assert type(pipe).__name__ == "StableDiffusionPipeline"


def test_hub_id_not_in_cache_offline_says_so():
    with pytest.raises(ModelError, match=r"not in the Hugging Face cache.*offline"):
        load_text2image(parse_model_source("someone/not-downloaded"), "cpu", None)


def test_corrupt_weights_in_a_folder_are_reported(tiny_model_dir, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, broken)
    weights = next((broken / "unet").glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:1000])  # truncated download
    with pytest.raises(ModelError, match="Could not load model 'broken'"):
        load_text2image(parse_model_source(str(broken)), "cpu", None)


def test_unavailable_device_is_a_clear_error():
    import torch

    from pipeline.models import choose_device

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ModelError, match="'cuda' is not available"):
        choose_device("cuda")
    assert choose_device("auto") in ("cpu", "mps")


@pytest.fixture(scope="module")
def tiny_checkpoint(tiny_model_dir, tmp_path_factory):
    from tests.ldm_checkpoint import save_ldm_checkpoint

    return save_ldm_checkpoint(tiny_model_dir, tmp_path_factory.mktemp("ckpt") / "tiny.safetensors")


def test_single_file_checkpoint_loads_offline_with_shipped_configs(
    tiny_checkpoint, tiny_model_dir, tmp_path, monkeypatch
):
    import numpy as np

    from pipeline import Engine, GenerationRequest

    configs = tmp_path / "resources" / "model_configs" / "sd1"
    shutil.copytree(tiny_model_dir, configs, ignore=shutil.ignore_patterns("*.safetensors"))
    monkeypatch.setattr("pipeline.models.resources_dir", lambda: tmp_path / "resources")
    assert detect_family(tiny_checkpoint) is SD1

    engine = Engine(tmp_path / "out", device="cpu")
    images = []
    kinds = []
    for model in (tiny_checkpoint, tiny_model_dir):
        request = GenerationRequest(prompt="a red circle", width=64, height=64, steps=3, seed=5,
                                    model=str(model))  # fmt: skip
        images.append(engine.run(request)[0])
        kinds.append(engine.model.kind)
    assert kinds == ["SD 1.x checkpoint", None]  # what was detected is reported
    assert engine.model.source.kind is SourceKind.FOLDER  # the second run switched models
    assert np.array_equal(images[0].image, images[1].image)  # same weights, same pixels
    assert images[0].path.name != images[1].path.name


def test_single_file_without_configs_offline_says_what_is_missing(tiny_checkpoint, tmp_path,
                                                                   monkeypatch):  # fmt: skip
    monkeypatch.setattr("pipeline.models.resources_dir", lambda: tmp_path)
    with pytest.raises(ModelError, match=r"SD 1.x checkpoint, but its component configs are miss"):
        load_text2image(parse_model_source(str(tiny_checkpoint)), "cpu", None)


def test_opted_in_pickle_checkpoint_is_converted_and_loads(tiny_checkpoint, tiny_model_dir,
                                                           tmp_path, monkeypatch):  # fmt: skip
    import torch
    from safetensors.torch import load_file

    from pipeline.models import convert_pickle_checkpoint

    ckpt = tmp_path / "tiny.ckpt"
    torch.save({"state_dict": load_file(str(tiny_checkpoint))}, ckpt)
    converted = convert_pickle_checkpoint(ckpt, tmp_path / "converted")
    assert converted.suffix == ".safetensors" and detect_family(converted) is SD1
    assert convert_pickle_checkpoint(ckpt, tmp_path / "converted") == converted  # reused
    configs = tmp_path / "resources" / "model_configs" / "sd1"
    shutil.copytree(tiny_model_dir, configs, ignore=shutil.ignore_patterns("*.safetensors"))
    monkeypatch.setattr("pipeline.models.resources_dir", lambda: tmp_path / "resources")
    pipe = load_text2image(parse_model_source(str(ckpt), allow_pickle=True), "cpu", None)
    assert type(pipe).__name__ == "StableDiffusionPipeline"
