"""Test hygiene for the whole suite: offline, offscreen, temp dirs, no leaked threads."""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Timing is not what property tests check: on a busy 2-core machine deadlines and the too-slow
# health check fail at random, so they are off for the whole suite.
settings.register_profile("brushwork", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("brushwork")

# Set before anything imports Qt or huggingface_hub: no test may touch the network or a screen.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# huggingface_hub reads HF_HOME once, at import: give the whole session one empty cache.
HF_HOME = Path(tempfile.mkdtemp(prefix="brushwork-hf-"))
os.environ["HF_HOME"] = str(HF_HOME)


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Settings and outputs of every test live in a fresh temp folder."""
    home = tmp_path_factory.mktemp("home")
    for var, sub in (
        ("XDG_DATA_HOME", "data"),
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_CACHE_HOME", "cache"),
        ("XDG_STATE_HOME", "state"),  # the CLI's log of library warnings
    ):
        monkeypatch.setenv(var, str(home / sub))
    return home


# Library daemons that start once and live as long as the process: not leaks of a test.
PROCESS_LIFETIME_THREADS = {"tqdm_monitor"}


@pytest.fixture(autouse=True)
def _no_leaked_threads() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    leaked = [
        t
        for t in threading.enumerate()
        if t not in before
        and t.is_alive()
        and not isinstance(t, threading._DummyThread)  # QThreads seen from Python
        and t.name not in PROCESS_LIFETIME_THREADS
    ]
    for thread in leaked:
        thread.join(timeout=5)
    still = [t.name for t in leaked if t.is_alive()]
    assert not still, f"test leaked threads: {still}"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.tiny_model import save_tiny_model

    return save_tiny_model(tmp_path_factory.mktemp("models") / "tiny-sd")


@pytest.fixture(scope="session")
def _shared_engine(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    from pipeline import Engine

    engine = Engine(tmp_path_factory.mktemp("outputs"), device="cpu")
    engine.load(str(tiny_model_dir))
    return engine


@pytest.fixture
def engine(_shared_engine, tmp_path: Path):
    """The session's engine (tiny model loaded once), writing into this test's temp folder."""
    _shared_engine.output_dir = tmp_path / "outputs"
    return _shared_engine
