"""Fixtures for attacks from outside: a hostile Hub on 127.0.0.1, a Ghostscript that tells on
its callers, and the real app."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.gui.conftest import make_app  # noqa: F401  (a fixture, used by name)


@pytest.fixture
def online(monkeypatch):
    """The suite runs with HF_HUB_OFFLINE=1; these tests talk to a server on 127.0.0.1 only."""
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")


@pytest.fixture
def tattletale_gs(tmp_path, monkeypatch) -> Path:
    """A `gs` first on PATH that only records that it ran: the file it writes is the proof.

    Pillow looks for Ghostscript once per process; the cached answer is reset so it asks ours.
    """
    from PIL import EpsImagePlugin

    folder = tmp_path / "bin"
    folder.mkdir()
    record = tmp_path / "gs-ran.txt"
    script = folder / "gs"
    script.write_text(f'#!/bin/sh\necho "$@" >> "{record}"\necho 10.00\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(EpsImagePlugin, "gs_binary", None)
    return record
