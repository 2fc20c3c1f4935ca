"""Live mode's steps, strength, CFG and sampler for the loaded model.

Live regenerates after every stroke, so it runs few steps. Models distilled for few steps
(LCM, SD-Turbo) say so through their scheduler or card and get their own steps and CFG; every
other model gets `DEFAULT`, the bundled model's values chosen by measurement (bench/live_presets.py,
bench/results.md: the fewest steps that still turn a rough sketch into the prompt's clean shape).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .models import SourceKind
from .request import GenerationRequest

MAX_CARD_BYTES = 1_000_000


@dataclass(frozen=True)
class LivePreset:
    steps: int  # the schedule's length; img2img runs int(steps × strength) of them
    strength: float  # the Live strength slider's starting value
    why: str


# bench/live_presets.py (16 hatched sketches the checker reads as nothing): 3 steps run (6 × 0.5
# or 0.6) refine 94% of them at ~130 ms CPU; more steps refine no more, 2 steps only 81%.
DEFAULT = LivePreset(steps=6, strength=0.6, why="measured on the bundled model")


@dataclass(frozen=True)
class FewStep:
    """The fields of the speed engineer's `pipeline.few_step.FewStepPreset` that Live reads."""

    steps: int
    cfg: float
    sampler: str
    why: str


def few_step(model_dir: Path | None, scheduler_config: dict, card: dict | None) -> FewStep | None:
    """Stand-in for `pipeline.few_step.few_step_preset` (same arguments and meaning) until it is
    merged: LCM by its scheduler or card, SD-Turbo by its card or folder name."""
    name = (model_dir.name if model_dir else "").lower()
    scheduler = str(scheduler_config.get("_class_name", ""))
    tags = " ".join(str(tag) for tag in (card or {}).get("tags", []) or []).lower()
    if scheduler == "LCMScheduler" or "lcm" in tags or "lcm" in name:
        return FewStep(4, 1.0, "lcm", "LCM model: 4 steps, CFG 1")
    if "turbo" in tags or "turbo" in name:
        return FewStep(2, 0.0, "euler_a", "Turbo model: 2 steps, no CFG")
    return None


def for_model(request: GenerationRequest, loaded: Any) -> GenerationRequest:
    """`request` (built with `DEFAULT`'s steps) with a few-step model's own steps, CFG and
    sampler; unchanged for every other model. `loaded` is the engine's LoadedModel."""
    source = getattr(loaded, "source", None)
    folder = None
    if getattr(source, "kind", None) is SourceKind.FOLDER:
        folder = Path(source.location)  # type: ignore[union-attr]
    config = dict(getattr(loaded, "scheduler_config", None) or {})
    preset = few_step(folder, config, _card(folder))
    if preset is None:
        return request
    # img2img runs int(steps × strength) steps: keep the preset's count at the chosen strength.
    steps = max(preset.steps, round(preset.steps / max(request.strength or 1.0, 0.05)))
    return request.replace(steps=steps, guidance=preset.cfg, sampler=preset.sampler)


def _card(folder: Path | None) -> dict | None:
    """The model card's YAML front matter (untrusted; None when there is none)."""
    if folder is None:
        return None
    readme = folder / "README.md"
    try:
        if not readme.is_file() or readme.stat().st_size > MAX_CARD_BYTES:
            return None
        from huggingface_hub.repocard import metadata_load

        card = metadata_load(readme)
    except Exception:  # a hostile or broken card is no card
        return None
    return card if isinstance(card, dict) else None


def describe(request: GenerationRequest) -> str:
    """What a Live job runs, for the Live view's status line."""
    run = int(request.steps * (request.strength or 1.0))
    return f"{max(run, 1)} steps · strength {request.strength:.2f} · seed {request.seed}"
