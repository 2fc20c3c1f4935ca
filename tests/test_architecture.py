"""The seam: pipeline/ never imports Qt, gui/ never imports torch/diffusers, imports stay light."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(package: str) -> set[str]:
    found = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found


def test_pipeline_never_imports_qt_or_gui():
    assert not imported_modules("pipeline") & {"PySide6", "gui", "shiboken6"}


def test_gui_never_imports_the_ml_stack():
    assert not imported_modules("gui") & {"torch", "diffusers", "transformers", "accelerate"}


@pytest.mark.parametrize("blocked", ["PySide6", "torch"])
def test_importing_pipeline_needs_neither_qt_nor_torch(blocked):
    code = (
        f"import sys; sys.modules[{blocked!r}] = None; import pipeline; "
        "from pipeline import SAMPLERS, GenerationRequest; "
        "assert 'torch' not in sys.modules or sys.modules['torch'] is None; print('ok')"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.stdout.strip() == "ok", done.stderr
