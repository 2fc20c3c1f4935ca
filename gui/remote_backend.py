"""The worker's engine when Settings → Backends says "ComfyUI servers": the remote engine, with
the local Engine's `load` / `run` (see worker.EngineLike). No Qt here."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline import GeneratedImage, GenerationRequest, ModelError, StepUpdate
from pipeline.remote import RemoteEngine

TOKEN_ENV = "BRUSHWORK_SERVER_TOKEN"
PREVIEW_NOTE = (
    "Previews need the servers to run with --preview-method auto, latent2rgb or taesd. "
    f"A bearer token is read from ${TOKEN_ENV}."
)


@dataclass(frozen=True)
class _Source:
    name: str


@dataclass(frozen=True)
class RemoteModel:
    """What the worker shows after `load`: the checkpoint's name and where it runs."""

    source: _Source
    kind: str
    native_size: int | None = None  # the servers do not say
    # Nor do they say a checkpoint's card: the worker reports no model defaults, so the panel
    # keeps the field table's fallbacks (as RemoteEngine.run does).
    defaults: Mapping[str, Any] = field(default_factory=dict)


class RemoteBackend:
    """Every job runs `checkpoint` on the servers, whatever model the local picker shows."""

    def __init__(self, servers: list[str], checkpoint: str, output_dir: Path) -> None:
        if not checkpoint.strip():
            raise ModelError("Settings → Backends: name the checkpoint the servers should use.")
        self.checkpoint = checkpoint.strip()
        token = os.environ.get(TOKEN_ENV) or None
        self.engine = RemoteEngine(servers, output_dir, token=token)
        self.on_server: Callable[[str], None] | None = None

    def load(self, model: str | None = None) -> RemoteModel:
        count = len(self.engine.servers)
        where = "1 ComfyUI server" if count == 1 else f"{count} ComfyUI servers"
        return RemoteModel(_Source(self.checkpoint), f"on {where}")

    def run(
        self,
        request: GenerationRequest,
        on_step: Callable[[StepUpdate], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> list[GeneratedImage]:
        self.engine.on_server = self.on_server
        return self.engine.run(request.replace(model=self.checkpoint), on_step, cancel)
