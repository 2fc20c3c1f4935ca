"""Generation parameters in image files: AUTOMATIC1111's `parameters` text and our JSON chunk.

The `parameters` chunk is the de-facto standard other tools read; the `brushwork` chunk holds the
full request so nothing is lost in the round trip.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from PIL import Image

from . import fields
from .control import format_control_pairs, parse_control_pairs
from .errors import ImageInputError
from .imagetext import read_text_and_exif
from .loras import with_lora_tags
from .metadata_formats import MAX_TEXT, READERS, bounded_json, exif_user_comment, sampler_id
from .samplers import sampler_from_name

PARAMETERS_KEY = "parameters"
JSON_KEY = "brushwork"
INFO_KEYS = fields.NAMES  # what `read_image_info` reports, under the request's own names
# One `Key: value` pair of the last line; a value may be a JSON-quoted string (A1111's rule).
# A pair starts only at the line's start or at a comma: the line is untrusted, and a pattern that
# may start anywhere rescans the rest of a comma-less line from every position (quadratic time).
_PARAM = re.compile(r'(?:^|,)\s*([\w][\w \-/]*):\s*("(?:\\.|[^\\"])*"|[^,]*)')


def format_parameters(meta: dict[str, Any], model_name: str) -> str:
    """A1111 text: prompt, `Negative prompt:` line, then `Key: value, …` on the last line (the
    table's A1111 keys of the fields this mode uses and of the engine's run facts). LoRAs given
    outside the prompt are added to it as `<lora:NAME:W>` tags, as A1111 writes them."""
    pairs = fields.format_a1111_pairs({**meta, "model": model_name})
    pairs += format_control_pairs(meta.get("controls", ()))  # `ControlNet k` (control.py)
    lines = [with_lora_tags(meta["prompt"], meta.get("loras", ()))]
    if meta["negative_prompt"]:
        lines.append(f"Negative prompt: {meta['negative_prompt']}")
    lines.append(", ".join(f"{key}: {_quote(value)}" for key, value in pairs))
    return "\n".join(lines)


def _quote(value: Any) -> str:
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if re.search(r'[,:"\n]', text) else text


def parse_parameters(text: str) -> dict[str, Any]:
    """Parses A1111 `parameters` text into table fields; missing fields are left out."""
    lines = text.strip().split("\n")
    params: dict[str, str] = {}
    if lines and len(_PARAM.findall(lines[-1])) >= 3:
        params = {k.strip(): _unquote(v) for k, v in _PARAM.findall(lines.pop())}
    prompt_lines: list[str] = []
    negative_lines: list[str] = []
    for line in lines:
        if line.startswith("Negative prompt:") and not negative_lines:
            negative_lines.append(line[len("Negative prompt:") :].strip())
        elif negative_lines:
            negative_lines.append(line)
        else:
            prompt_lines.append(line)
    info: dict[str, Any] = {
        "prompt": "\n".join(prompt_lines).strip(),
        "negative_prompt": "\n".join(negative_lines).strip(),
    }
    info.update(_typed_params(params))
    return info


def _unquote(value: str) -> str:
    value = value.strip()
    if value.startswith('"') and value.endswith('"') and len(value) >= 2:
        try:
            return str(json.loads(value))
        except json.JSONDecodeError:
            return value[1:-1]
    return value


def _typed_params(params: dict[str, str]) -> dict[str, Any]:
    info = fields.parse_a1111_pairs(params)
    controls = parse_control_pairs(params)
    if controls:
        info["controls"] = controls
    if "Sampler" in params:  # any other tool's sampler name, kept as is if we have none like it
        name = params["Sampler"]
        if params.get("Schedule type", "").lower() == "karras":  # newer A1111 splits it out
            name = f"{name} Karras"
        known = sampler_from_name(name)
        info["sampler"] = known.id if known else sampler_id(params["Sampler"])
    return info


def read_image_info(path: Path) -> dict[str, Any]:
    """Reads generation parameters from an image written by Brushwork, AUTOMATIC1111 (PNG text
    or JPEG/WebP EXIF), ComfyUI, InvokeAI, Fooocus or NovelAI; `source` says which.

    Keys are the field table's names (the request's own). Values are what the file says, not
    checked: `fields.clean` keeps the usable ones (as "Use parameters" does)."""
    chunks, exif = read_text_and_exif(path)  # allowed formats only, no pixel decoded
    comment = _exif_user_comment(exif)
    ours = _from_json_chunk(chunks.get(JSON_KEY))
    if ours is not None:
        return ours
    for reader in READERS:
        found = reader(chunks)
        if found is not None:
            return found
    for text in (chunks.get(PARAMETERS_KEY), comment):
        if isinstance(text, str) and text.strip() and len(text) <= MAX_TEXT:
            return {"source": "a1111", **parse_parameters(text)}
    raise ImageInputError(f"{path.name} holds no generation parameters.")


def _exif_user_comment(exif: Image.Exif) -> str | None:
    """A1111 stores its parameters text in EXIF UserComment for JPEG and WebP."""
    try:
        exif_ifd = exif.get_ifd(0x8769)  # the Exif sub-IFD
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return exif_user_comment(exif_ifd.get(0x9286))


def _recorded(name: str, request: dict[str, Any]) -> bool:
    return name == "strength" or fields.applies(fields.BY_NAME[name], request)


def _from_json_chunk(raw: Any) -> dict[str, Any] | None:
    data = bounded_json(raw)  # untrusted: size-capped, deep nesting refused
    if not isinstance(data, dict):
        return None
    request = data.get("request", {})
    if not isinstance(request, dict):
        return None
    info: dict[str, Any] = {"source": "brushwork"}
    mode = request.get("mode")
    used = fields.NAMES if mode not in {m.value for m in fields.Mode} else fields.used_by(mode)
    info.update(
        {name: request[name] for name in (*used, *fields.RUN_FACT_NAMES) if name in request}
    )
    for name in (n for n in used if n in info and fields.BY_NAME[n].kind is tuple):
        info[name] = _tuples(info[name])  # JSON has no tuples (e.g. the LoRA pairs)
    # The hires fields only when the hires fix ran (as in the A1111 text).
    info = {k: v for k, v in info.items() if k not in fields.BY_NAME or _recorded(k, request)}
    info["model"] = data.get("model", info.get("model"))  # the model's name, not its path
    return info


def _tuples(value: Any) -> Any:
    """Lists (at any depth: bounded_json limits it) as tuples; other values as they are."""
    return tuple(_tuples(item) for item in value) if isinstance(value, list) else value


def json_chunk(meta: dict[str, Any], model_name: str, version: str) -> str:
    return json.dumps(
        {"app": "Brushwork", "version": version, "model": model_name, "request": meta},
        ensure_ascii=False,
    )
