"""A scriptable stand-in for the engine, for GUI tests: no torch, controllable timing and errors.

It writes real PNG files (through pipeline.outputs) so file-on-disk behaviour stays real.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline import Cancelled, GeneratedImage, GenerationRequest, StepUpdate
from pipeline.outputs import write_png
from pipeline.saving import unsaved


@dataclass
class FakeSource:
    name: str = "fake-model"


@dataclass
class FakeLoaded:
    source: FakeSource = field(default_factory=FakeSource)
    kind: str | None = None  # what the engine detected, e.g. "SD 1.x checkpoint"
    native_size: int | None = None  # the size it was trained at (None: the fake does not say)
    card: dict = field(default_factory=dict)  # sampler/guidance its model card recommends

    @property
    def defaults(self) -> dict:
        size = {"width": self.native_size, "height": self.native_size} if self.native_size else {}
        return {**size, **self.card}


class FakeEngine:
    def __init__(self, output_dir: Path, step_delay: float = 0.0, fail: Exception | None = None,
                 loaded: FakeLoaded | None = None):  # fmt: skip
        self.output_dir = output_dir
        self.step_delay = step_delay
        self.fail = fail
        self.steps_run: list[int] = []
        self.cancel_seen_at: int | None = None
        self.threads: set[str] = set()
        self.requests: list[GenerationRequest] = []
        self.saves: list[bool] = []  # the `save` argument of each run
        self.loaded = loaded or FakeLoaded()

    def load(self, model: str | None = None) -> FakeLoaded:
        self.threads.add(threading.current_thread().name)
        return self.loaded

    def run(self, request, on_step=None, cancel=None, save=True) -> list[GeneratedImage]:
        """`save` False (Live) writes nothing, like Engine.run: the image comes back unsaved."""
        self.requests.append(request)
        self.saves.append(save)
        self.threads.add(threading.current_thread().name)
        request = request.resolved(self.loaded.defaults).with_resolved_seed()
        started = time.perf_counter()
        for step in range(1, request.steps + 1):
            if cancel is not None and cancel.is_set():
                self.cancel_seen_at = step
                raise Cancelled()
            if self.fail is not None and step == 2:
                raise self.fail
            time.sleep(self.step_delay)
            self.steps_run.append(step)
            if on_step is not None:
                level = int(255 * step / request.steps)
                preview = np.full((request.height // 8, request.width // 8, 3), level, np.uint8)
                on_step(StepUpdate(step, request.steps, time.perf_counter() - started, preview))
        image = np.zeros((request.height, request.width, 3), np.uint8)
        image[..., 0] = request.seed % 256
        image[: request.height // 2, :, 2] = 200
        if not save:  # the init image shows through: a Live result depends on the canvas
            if request.init_image is not None and request.init_image.shape == image.shape:
                image[..., 1] = request.init_image[..., 1]
            return unsaved(request, [image], self.loaded.source.name)
        path = write_png(image, self.output_dir, f"fake-{request.seed}", {"parameters": "fake"})
        return [GeneratedImage(path, image, request.seed, request)]
