"""Real-ComfyUI tests: skipped (with the reason) unless tools/comfyui_testenv.sh has built the
test venv. The tiny SD 1.5 checkpoint is built once into that venv's models/ folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .comfy_server import VENV, ComfyServer, comfyui_main


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if comfyui_main() is not None:
        return
    skip = pytest.mark.skip(
        reason=f"no ComfyUI test venv at {VENV}: run tools/comfyui_testenv.sh "
        "(or set BRUSHWORK_COMFYUI_VENV)"
    )
    for item in items:
        if "remote_real" in str(item.fspath):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def comfy_models() -> Path:
    from .tiny_sd15 import LORA_NAME, NAME, build_tiny_lora, build_tiny_sd15

    models = VENV / "models"
    build_tiny_sd15(models / "checkpoints" / NAME)
    build_tiny_lora(models / "loras" / LORA_NAME)  # on the server as a user would put it
    return models


@pytest.fixture(scope="session")
def comfy(comfy_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComfyServer]:
    server = ComfyServer(tmp_path_factory.mktemp("comfyui"), comfy_models).start()
    try:
        yield server
    finally:
        server.stop()
