"""Live mode's steps, strength, CFG and sampler for the loaded model.

Live regenerates after every stroke, so it runs few steps. Models distilled for few steps
(LCM, Turbo, Lightning, Hyper-SD: pipeline/few_step.py, from their scheduler, card or name, or
an LCM-style LoRA in the request) get their own steps and CFG; every
other model gets `DEFAULT`, the bundled model's values chosen by measurement (bench/live_presets.py,
bench/results.md: the fewest steps that still turn a rough sketch into the prompt's clean shape).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .few_step import few_step_preset, lora_preset
from .models import SourceKind
from .request import GenerationRequest


@dataclass(frozen=True)
class LivePreset:
    steps: int  # the schedule's length; img2img runs int(steps × strength) of them
    strength: float  # the Live strength slider's starting value
    why: str


# bench/live_presets.py (16 hatched sketches the checker reads as nothing): 3 steps run (6 × 0.5
# or 0.6) refine 94% of them at ~130 ms CPU; more steps refine no more, 2 steps only 81%.
DEFAULT = LivePreset(steps=6, strength=0.6, why="measured on the bundled model")


def for_model(request: GenerationRequest, loaded: Any) -> GenerationRequest:
    """`request` (built with `DEFAULT`'s steps) with a few-step model's own steps, CFG and
    sampler; unchanged for every other model. `loaded` is the engine's LoadedModel."""
    source = getattr(loaded, "source", None)
    folder = None
    if getattr(source, "kind", None) is SourceKind.FOLDER:
        folder = Path(source.location)  # type: ignore[union-attr]
    config = dict(getattr(loaded, "scheduler_config", None) or {})
    preset = few_step_preset(folder, config, None) or lora_preset(name for name, _ in request.loras)
    if preset is None:
        return request
    # img2img runs int(steps × strength) steps: keep the preset's count at the chosen strength.
    # Rounded up: SD-Turbo's 1 step at strength 0.7 must schedule 2, not round(1.4) = 1 (0 run).
    steps = max(preset.steps, math.ceil(preset.steps / max(request.strength or 1.0, 0.05) - 1e-9))
    return request.replace(steps=steps, guidance=preset.cfg, sampler=preset.sampler)


def describe(request: GenerationRequest) -> str:
    """What a Live job runs, for the Live view's status line."""
    run = int(request.steps * (request.strength or 1.0))
    return f"{max(run, 1)} steps · strength {request.strength:.2f} · seed {request.seed}"
