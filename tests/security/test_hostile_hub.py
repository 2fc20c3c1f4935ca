"""`brushwork-cli download` against a hostile Hub on 127.0.0.1 (HF_ENDPOINT): nothing is written
outside the model's cache folder, a silent server cannot block cancel, a flood is cut off."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pipeline import Cancelled, ModelError
from pipeline.cli import main
from pipeline.downloads import download_model
from tests.hub_standin import COMMIT, HubStandIn
from tests.security.hostile_hub import HostileHub, small_repo

ROOT = Path(__file__).resolve().parents[2]


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file() or p.is_symlink()}


@pytest.fixture
def repo(tmp_path):
    return small_repo(tmp_path / "served")


def test_etag_naming_a_pth_file_in_site_packages_is_refused(online, repo, tmp_path):
    """The review's code execution: `blobs/<etag>` with a `../` ETag wrote a `.pth` file that the
    next Python start ran. Run as a user would: the CLI, the server named by HF_ENDPOINT."""
    site = tmp_path / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    cache = tmp_path / "cache"  # blobs/../../../lib/… from the repo folder is `site`
    etag = "../../../lib/python3.11/site-packages/zz_evil.pth"
    env = {**os.environ, "HF_HUB_OFFLINE": "0", "HF_HUB_CACHE": str(cache)}
    with HostileHub({"org/evil": repo}, etag=etag) as hub:
        env["HF_ENDPOINT"] = hub.url
        done = subprocess.run(
            [sys.executable, "-m", "pipeline", "download", "org/evil"],
            capture_output=True, text=True, env=env, cwd=ROOT, timeout=120,
        )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert not (site / "zz_evil.pth").exists() and not list(site.iterdir())
    assert f"invalid ETag {etag!r}" in done.stderr.splitlines()[-1]
    assert not files_under(cache)  # refused before anything was created


@pytest.mark.parametrize(
    "attack",
    ["etag-absolute", "etag-backslashes", "name-dot-dot", "name-absolute", "name-drive-letter",
     "name-backslash", "commit-dot-dot", "commit-absolute", "commit-not-hex"],
)  # fmt: skip
def test_server_values_that_leave_the_cache_are_refused_before_writing(
    online, repo, tmp_path, monkeypatch, capsys, attack
):
    import huggingface_hub.constants as constants

    outside = tmp_path / "outside"
    cache = tmp_path / "cache"
    values = {
        "etag-absolute": {"etag": str(outside / "abs_evil")},
        "etag-backslashes": {"etag": "..\\..\\..\\outside\\evil"},
        "name-dot-dot": {"extra_name": "../../../../outside/escape.json"},
        "name-absolute": {"extra_name": str(outside / "abs.json")},
        "name-drive-letter": {"extra_name": "C:evil.json"},
        "name-backslash": {"extra_name": "unet\\..\\..\\..\\..\\outside\\b.json"},
        "commit-dot-dot": {"commit": "../../../outside/x"},
        "commit-absolute": {"commit": str(outside / "snap")},
        "commit-not-hex": {"commit": "main"},
    }[attack]
    bad = next(iter(values.values()))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    with HostileHub({"org/evil": repo}, **values) as hub:
        monkeypatch.setattr(constants, "ENDPOINT", hub.url)  # as HF_ENDPOINT would set it
        code = main(["download", "org/evil"])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2
    assert err.startswith("error: ") and repr(bad) in err
    assert not outside.exists()
    assert not files_under(tmp_path) - files_under(repo)  # nothing written anywhere


def download_in_thread(hub: HostileHub, repo_id: str, cache: Path, cancel: threading.Event):
    """Runs download_model beside the test, which can then wait with a deadline; the outcome
    (an exception, or the folder) is appended to the returned list."""
    outcome: list[object] = []

    def run() -> None:
        try:
            folder = download_model(repo_id, cancel=cancel, endpoint=hub.url, cache_dir=cache)
            outcome.append(folder)
        except Exception as exc:  # the outcome is the test's subject
            outcome.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    return worker, outcome


def test_silent_server_does_not_block_cancel(online, repo, tmp_path):
    """10 bytes, then silence: cancel must still end the download within a few seconds."""
    cancel = threading.Event()
    with HostileHub({"org/slow": repo}, stall_after=10) as hub:
        worker, outcome = download_in_thread(hub, "org/slow", tmp_path / "c", cancel)
        deadline = time.monotonic() + 30
        while hub.sent == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        cancel.set()
        asked = time.monotonic()
        worker.join(timeout=5)
        took, alive = time.monotonic() - asked, worker.is_alive()
    worker.join()  # the server is closed now, so even a hung client returns
    assert not alive, "cancel was not seen while the server kept silent"
    assert took < 3 and isinstance(outcome[0], Cancelled)
    partial = list((tmp_path / "c").rglob("*.partial"))
    assert [p.stat().st_size for p in partial] == [10]  # kept, so the next attempt resumes


def test_silent_server_fails_after_the_download_timeout(online, repo, tmp_path, monkeypatch):
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_DOWNLOAD_TIMEOUT", 2)
    with HostileHub({"org/slow": repo}, stall_after=10) as hub:
        worker, outcome = download_in_thread(hub, "org/slow", tmp_path / "c", threading.Event())
        worker.join(timeout=8)
        alive = worker.is_alive()
    worker.join()
    assert not alive, "a silent server blocked the download past its timeout"
    assert isinstance(outcome[0], ModelError)
    assert "stopped sending 'model_index.json' (nothing for 2 s)" in str(outcome[0])


def test_silent_model_info_request_times_out(online, repo, tmp_path, monkeypatch):
    """The repo listing comes first: huggingface_hub's session waits forever unless told."""
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_DOWNLOAD_TIMEOUT", 2)
    with HostileHub({"org/slow": repo}, silent_listing=True) as hub:
        worker, outcome = download_in_thread(hub, "org/slow", tmp_path / "c", threading.Event())
        worker.join(timeout=8)
        alive = worker.is_alive()
    worker.join()
    assert not alive, "a server that never answered the listing blocked the download"
    assert isinstance(outcome[0], ModelError) and "Could not reach the Hub" in str(outcome[0])


def test_body_larger_than_announced_is_cut_off(online, repo, tmp_path):
    """HEAD says 45 bytes, GET would stream 64 MiB: stop at the announced size."""
    with HostileHub({"org/flood": repo}, get_size=64 << 20) as hub:
        with pytest.raises(ModelError, match=r"sent more than the 4[0-9] bytes it announced"):
            download_model("org/flood", endpoint=hub.url, cache_dir=tmp_path / "c")
        sent = hub.sent
    assert sent <= 8 << 20  # the client hung up long before the 64 MiB
    assert not [p for p in (tmp_path / "c").rglob("*") if p.is_file()]  # nothing half-kept


def test_hub_standin_serves_nothing_outside_its_repo(repo, tmp_path):
    """A stand-in that allowed `..%2F` could not test that the client refuses traversal."""
    import urllib.error
    import urllib.request

    (tmp_path / "secret.txt").write_text("not part of any repo")
    with HostileHub({"org/tiny": repo}) as hub, HubStandIn({"org/tiny": repo}) as plain:
        for url in (plain.url, hub.url):
            for name in ("..%2Fsecret.txt", "unet%2F..%2F..%2Fsecret.txt", "%2E%2E/secret.txt"):
                with pytest.raises(urllib.error.HTTPError) as refused:
                    urllib.request.urlopen(f"{url}/org/tiny/resolve/{COMMIT}/{name}", timeout=10)
                assert refused.value.code == 404
        served = urllib.request.urlopen(f"{plain.url}/org/tiny/resolve/{COMMIT}/model_index.json")
        assert b"StableDiffusionPipeline" in served.read()
