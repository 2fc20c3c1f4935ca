"""The test run's own Python: under tools/run_tests.sh (and so CI), a fresh virtual environment
that sees none of the system Python's packages, so a dependency missing from pyproject.toml
fails the run. Elsewhere (a developer's own environment) these tests are skipped."""

from __future__ import annotations

import importlib
import os
import re
import site
import sys
from pathlib import Path

import pytest

FRESH_VENV = os.environ.get("BRUSHWORK_TEST_VENV")
pytestmark = pytest.mark.skipif(
    not FRESH_VENV, reason="only in the fresh environment of tools/run_tests.sh"
)
# What Brushwork and its tests import, directly or through diffusers' optional imports.
RUNTIME = ["torch", "diffusers", "transformers", "accelerate", "safetensors", "PySide6", "PIL",
           "platformdirs", "numpy", "scipy", "psutil", "huggingface_hub"]  # fmt: skip
TEST = ["pytest", "pytestqt", "hypothesis"]


def _inside(path: str | Path, folder: str | Path) -> bool:
    return Path(path).resolve().is_relative_to(Path(folder).resolve())


def test_python_is_the_fresh_venv():
    assert sys.prefix != sys.base_prefix  # a virtual environment …
    assert Path(sys.prefix).resolve() == Path(FRESH_VENV).resolve()  # … the one just made


def test_the_system_site_packages_are_not_visible():
    config = (Path(sys.prefix) / "pyvenv.cfg").read_text()
    assert re.search(r"^include-system-site-packages\s*=\s*false\s*$", config, re.MULTILINE)
    system = [*site.getsitepackages([sys.base_prefix]), site.getusersitepackages()]
    leaked = [p for p in sys.path if p and any(_inside(p, s) for s in system)]
    assert not leaked, f"system or user site-packages on sys.path: {leaked}"


@pytest.mark.parametrize("module", RUNTIME + TEST)
def test_each_package_comes_from_the_venv(module):
    """scipy and hypothesis are in the system Python here: a green run must not borrow them."""
    location = importlib.import_module(module).__file__
    assert location is not None and _inside(location, sys.prefix), location
