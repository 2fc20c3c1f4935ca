""" "Use parameters" for LoRAs: the LoRAs an image records, found in the LoRA list by name or
by A1111's short hash, and the ones that are missing.

An image records LoRAs two ways: Brushwork's own metadata has `loras` (file, weight) pairs, and
every format may have `<lora:NAME:W>` tags in the prompt (A1111 writes all of its LoRAs so) plus
`Lora hashes: "NAME: hash, …"`. A LoRA renamed since is found by its hash; its prompt tag is
rewritten to the local name, so the tag keeps working and the weight stays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline import BrushworkError
from pipeline.loras import LORA_TAG, prompt_tags

from .lora_list import LoraListModel


@dataclass
class Recalled:
    prompt: str | None  # the prompt with renamed LoRAs' tags rewritten (None: no prompt)
    applied: dict[str, float] = field(default_factory=dict)  # list rows turned on
    renamed: dict[str, str] = field(default_factory=dict)  # recorded name → local name
    missing: list[str] = field(default_factory=list)  # "NAME (hash …)"

    def note(self) -> str:
        found = [f"{name} {weight:g}" for name, weight in self.applied.items()]
        found += [f"{old} as {new}" for old, new in self.renamed.items()]
        return f"LoRAs: {', '.join(found)}" if found else ""


def parse_hashes(text: Any) -> dict[str, str]:
    """A1111's `Lora hashes` value `NAME: hash, NAME2: hash2` as {NAME: hash} (the A1111
    reader gives it as a dict already; Brushwork's own metadata as the text)."""
    if isinstance(text, dict):
        return {k: v for k, v in text.items() if isinstance(k, str) and isinstance(v, str)}
    found: dict[str, str] = {}
    if not isinstance(text, str):
        return found
    for part in text.strip().strip('"').split(","):
        name, sep, digest = part.rpartition(":")
        if sep and name.strip() and digest.strip():
            found[name.strip()] = digest.strip()
    return found


def recall(info: dict[str, Any], model: LoraListModel) -> Recalled:
    """Turns on exactly the recorded LoRAs that are found (every other row off)."""
    hashes = parse_hashes(info.get("lora_hashes"))
    prompt = info.get("prompt") if isinstance(info.get("prompt"), str) else None
    result = Recalled(prompt)
    for given, weight in _recorded_pairs(info.get("loras")):
        name = Path(given).stem
        local = model.find(name, hashes.get(name))
        if local is None:
            result.missing.append(_describe(name, hashes))
            continue
        result.applied[local] = weight
        if local != name:
            result.renamed[name] = local
    if prompt is not None:
        result.prompt = _rewrite_tags(prompt, model, hashes, result)
    model.set_applied(result.applied)
    return result


def _recorded_pairs(value: Any) -> list[tuple[str, float]]:
    if not isinstance(value, (list, tuple)):
        return []
    pairs = []
    for item in value:
        if isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str):
            weight = item[1]
            if isinstance(weight, (int, float)) and not isinstance(weight, bool):
                pairs.append((item[0], float(weight)))
    return pairs


def _rewrite_tags(prompt: str, model: LoraListModel, hashes: dict[str, str], result: Recalled):
    try:
        tagged = [name for name, _ in prompt_tags(prompt)]
    except BrushworkError:
        return prompt  # the engine's error line names the bad tag at Generate
    local = {name: model.find(name, hashes.get(name)) for name in tagged}
    for name, found in local.items():
        if found is None:
            result.missing.append(_describe(name, hashes))
        elif found != name:
            result.renamed[name] = found

    def rename(match: Any) -> str:
        name = match.group(2).strip()
        found = local.get(name)
        if not found or found == name:
            return match.group(0)
        rest = match.group(0)[len(f"<{match.group(1)}:{match.group(2)}") :]
        return f"<{match.group(1)}:{found}{rest}"

    return LORA_TAG.sub(rename, prompt)


def _describe(name: str, hashes: dict[str, str]) -> str:
    return f"{name} (hash {hashes[name]})" if name in hashes else name
