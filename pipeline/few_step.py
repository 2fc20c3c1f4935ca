"""Few-step presets: the steps, CFG and sampler that distilled models (LCM, Turbo, Hyper-SD,
Lightning) and LCM-style LoRAs are made for.

Distilled models are run far from the app's defaults (20 steps, CFG 7): SD-Turbo wants 1 step at
CFG 0, LCM 4 steps at CFG ~1. With the defaults they burn (CFG) and waste 5-20× the time (steps).
The signals read, strongest first: the scheduler the model ships (an `LCMScheduler` is LCM), the
model card's tags / base model / name, and the folder's name. A card's own
`inference: parameters:` (steps, guidance) win over the family's typical values. Nothing here
imports torch: the GUI asks while the model loads.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_CARD_BYTES = 1_000_000


@dataclass(frozen=True)
class FewStepPreset:
    steps: int
    cfg: float
    sampler: str  # an id of pipeline/samplers.py
    why: str  # shown to the user: what was detected, and where


# Typical values per family, from each family's model card (diffusers documents the same):
# LCM 4 steps / CFG 1 (LCM sampler); SD/SDXL-Turbo 1 step / CFG 0; SDXL-Lightning and Hyper-SD
# as many steps as their name says (4 if it says none) / CFG 0, Euler with trailing timesteps.
_FAMILIES: tuple[tuple[str, re.Pattern[str], int, float, str], ...] = (
    ("LCM", re.compile(r"(^|[^a-z])lcm([^a-z]|$)"), 4, 1.0, "lcm"),
    ("Turbo", re.compile(r"turbo"), 1, 0.0, "euler_a"),
    ("Lightning", re.compile(r"lightning"), 4, 0.0, "euler"),
    ("Hyper-SD", re.compile(r"hyper[-_ ]?sd"), 4, 0.0, "euler"),
)
_STEPS_IN_NAME = re.compile(r"(\d{1,2})[-_ ]?steps?")


def few_step_preset(
    model_dir: Path | None, scheduler_config: dict, card: dict | None
) -> FewStepPreset | None:
    """The preset for a model, or None for an ordinary one. `card` is the model card's YAML
    metadata (None: read it from `model_dir/README.md` if there is one)."""
    if card is None and model_dir is not None:
        card = read_card(model_dir)
    card = card if isinstance(card, dict) else {}
    config = scheduler_config if isinstance(scheduler_config, dict) else {}
    if config.get("_class_name") == "LCMScheduler":
        return _with_card(_family_preset("LCM", "", "its scheduler is LCMScheduler"), card)
    for where, text in _card_texts(card, model_dir):
        for name, pattern, *_ in _FAMILIES:
            if pattern.search(text):
                return _with_card(_family_preset(name, text, f"{where} says {name}"), card)
    return None


def lora_preset(lora_names: Iterable[str]) -> FewStepPreset | None:
    """The preset for a run with these LoRAs (file names): an LCM-LoRA, Hyper-SD or Lightning
    LoRA turns any base model into a few-step one; its file name is the only signal (as in A1111
    and Fooocus), the weights of a LoRA look alike whatever it was trained for."""
    for lora in lora_names:
        text = str(lora).lower()
        for name, pattern, *_ in _FAMILIES:
            if name != "Turbo" and pattern.search(text):
                return _family_preset(name, text, f"the LoRA {lora} is a {name} LoRA")
    return None


def _family_preset(family: str, text: str, why: str) -> FewStepPreset:
    _name, _pattern, steps, cfg, sampler = next(f for f in _FAMILIES if f[0] == family)
    named = _STEPS_IN_NAME.search(text)
    if named and family in ("Lightning", "Hyper-SD") and 1 <= int(named.group(1)) <= 16:
        steps = int(named.group(1))
    return FewStepPreset(steps, cfg, sampler, why)


def _with_card(preset: FewStepPreset, card: dict) -> FewStepPreset:
    """The card's own recommended steps/guidance, where it gives sane ones."""
    inference = card.get("inference")
    parameters = inference.get("parameters") if isinstance(inference, dict) else None
    if not isinstance(parameters, dict):
        return preset
    steps, cfg = parameters.get("num_inference_steps"), parameters.get("guidance_scale")
    changes: dict[str, Any] = {}
    if isinstance(steps, int) and not isinstance(steps, bool) and 1 <= steps <= 16:
        changes["steps"] = steps
    if isinstance(cfg, (int, float)) and not isinstance(cfg, bool) and 0 <= cfg <= 3:
        changes["cfg"] = float(cfg)
    if not changes:
        return preset
    return FewStepPreset(
        changes.get("steps", preset.steps), changes.get("cfg", preset.cfg), preset.sampler,
        preset.why + " (steps/CFG from its card)",
    )  # fmt: skip


def _card_texts(card: dict, model_dir: Path | None) -> list[tuple[str, str]]:
    """(where, lower-case text) to look for family names in, most specific first."""
    texts: list[tuple[str, str]] = []
    for key in ("model_name", "base_model", "tags"):
        value = card.get(key)
        values = value if isinstance(value, list) else [value]
        joined = " ".join(str(v) for v in values if isinstance(v, (str, int, float)))
        if joined:
            texts.append((f"its card's {key}", joined.lower()))
    if model_dir is not None:
        texts.append(("its folder name", model_dir.name.lower()))
    return texts


def read_card(model_dir: Path) -> dict:
    """The YAML front matter of `model_dir/README.md` ({} if absent, too large or broken)."""
    from huggingface_hub.repocard import metadata_load

    readme = model_dir / "README.md"
    try:
        if not readme.is_file() or readme.stat().st_size > MAX_CARD_BYTES:
            return {}
        card = metadata_load(readme)
    except Exception:  # an untrusted file: any parse error means "no card"
        return {}
    return card if isinstance(card, dict) else {}


def preset_fields(preset: FewStepPreset) -> dict[str, Any]:
    """The preset as field-table values (pipeline/fields.py names)."""
    return {"steps": preset.steps, "guidance": preset.cfg, "sampler": preset.sampler}


def peek_preset(model: str | None) -> FewStepPreset | None:
    """The preset for what the model picker names, without loading weights or importing torch
    (the GUI asks on every model change): a folder's scheduler config and card, else the Hub
    id's or the file's name (`stabilityai/sd-turbo`, `dreamshaper_8_lcm.safetensors`)."""
    import json

    from .errors import BrushworkError
    from .models import SourceKind, parse_model_source

    if model is None:
        return None
    try:
        source = parse_model_source(model, allow_pickle=True)
    except BrushworkError:
        return None
    if source.kind is SourceKind.FOLDER:
        folder = Path(source.location)
        try:
            config = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
        except (OSError, ValueError):
            config = {}
        return few_step_preset(folder, config if isinstance(config, dict) else {}, None)
    name = source.location if source.kind is SourceKind.HUB else Path(source.location).stem
    return few_step_preset(None, {}, {"model_name": name})
