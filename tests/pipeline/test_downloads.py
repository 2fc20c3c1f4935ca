"""Hub downloads against a local stand-in server: progress, filtering, cancel and resume."""

import shutil
import threading

import pytest

from pipeline import Cancelled, ModelError
from pipeline.downloads import download_model, files_to_fetch
from tests.hub_standin import HubStandIn


@pytest.fixture
def online(monkeypatch):
    """The suite runs with HF_HUB_OFFLINE=1; these tests talk to a server on 127.0.0.1 only."""
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")


@pytest.fixture
def repo(tiny_model_dir, tmp_path):
    folder = tmp_path / "repo"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "unet" / "diffusion_pytorch_model.bin").write_bytes(b"pickle, never fetched")
    weights = folder / "unet" / "diffusion_pytorch_model.safetensors"
    shutil.copy(weights, folder / "unet" / "diffusion_pytorch_model.fp16.safetensors")
    return folder


def test_files_to_fetch_keeps_configs_and_one_copy_of_safetensors_weights():
    names = [
        "model_index.json", "README.md", "v1-5.ckpt", "unet/config.json",
        "unet/diffusion_pytorch_model.bin", "unet/diffusion_pytorch_model.safetensors",
        "unet/diffusion_pytorch_model.fp16.safetensors",
        "vae/diffusion_pytorch_model.fp16.safetensors",
        "tokenizer/merges.txt", "onnx/unet/model.onnx", "flax_model.msgpack",
    ]  # fmt: skip
    assert files_to_fetch(names) == [
        "model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
        "vae/diffusion_pytorch_model.fp16.safetensors", "tokenizer/merges.txt",
    ]  # fmt: skip


def test_download_lands_in_the_hf_cache_with_byte_progress(online, repo, tmp_path):
    from diffusers import StableDiffusionPipeline

    updates = []
    with HubStandIn({"org/tiny": repo}) as hub:
        folder = download_model("org/tiny", updates.append, endpoint=hub.url, cache_dir=tmp_path)
    assert folder.parent.name == "snapshots" and folder.parents[1].name == "models--org--tiny"
    fetched = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert "unet/diffusion_pytorch_model.safetensors" in fetched
    assert not any(name.endswith((".bin", ".fp16.safetensors")) for name in fetched)
    total = sum((repo / name).stat().st_size for name in fetched)
    assert updates[-1].done_bytes == updates[-1].total_bytes == total
    assert [u.done_bytes for u in updates] == sorted(u.done_bytes for u in updates)
    assert StableDiffusionPipeline.from_pretrained(folder).unet is not None


def test_cancel_stops_mid_file_and_the_next_attempt_resumes(online, repo, tmp_path):
    big = repo / "unet" / "diffusion_pytorch_model.safetensors"
    cancel = threading.Event()

    def on_progress(update):
        if update.current_file.startswith("unet/diffusion") and update.done_bytes > 0:
            cancel.set()

    with HubStandIn({"org/tiny": repo}, chunk=16384, delay=0.01) as hub:
        with pytest.raises(Cancelled, match="resume"):
            download_model("org/tiny", on_progress, cancel, endpoint=hub.url, cache_dir=tmp_path)
        partial = list(tmp_path.rglob("*.partial"))
        assert len(partial) == 1 and 0 < partial[0].stat().st_size < big.stat().st_size
        hub.requests.clear()
        folder = download_model("org/tiny", endpoint=hub.url, cache_dir=tmp_path)
    ranges = [r for method, path, r in hub.requests if method == "GET" and path.endswith(
        "unet/diffusion_pytorch_model.safetensors")]  # fmt: skip
    assert ranges and ranges[0].startswith("bytes=") and ranges[0] != "bytes=0-"
    assert (folder / "unet" / big.name).read_bytes() == big.read_bytes()


def test_unknown_repository_is_a_clear_error(online, repo, tmp_path):
    with HubStandIn({"org/tiny": repo}) as hub, pytest.raises(ModelError, match="no model"):
        download_model("org/missing", endpoint=hub.url, cache_dir=tmp_path)
