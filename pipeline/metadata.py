"""Generation parameters in image files: AUTOMATIC1111's `parameters` text and our JSON chunk.

The `parameters` chunk is the de-facto standard other tools read; the `brushwork` chunk holds the
full request so nothing is lost in the round trip.
"""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from .errors import ImageInputError
from .extra_fields import format_fields, from_request_json, parse_fields, prompt_with_lora_tags
from .metadata_formats import MAX_TEXT, READERS, bounded_json, exif_user_comment
from .samplers import get_sampler, sampler_from_name

PARAMETERS_KEY = "parameters"
JSON_KEY = "brushwork"
INFO_KEYS = (
    "prompt",
    "negative_prompt",
    "steps",
    "sampler",
    "cfg_scale",
    "seed",
    "width",
    "height",
    "model",
)
EXTRA_KEYS = ("mode", "strength", "batch_size")
INPAINT_KEYS = ("mask_blur", "mask_grow", "inpaint_area", "inpaint_padding", "color_correction")
# One `Key: value` pair of the last line; a value may be a JSON-quoted string (A1111's rule).
# A pair starts only at the line's start or at a comma: the line is untrusted, and a pattern that
# may start anywhere rescans the rest of a comma-less line from every position (quadratic time).
_PARAM = re.compile(r'(?:^|,)\s*([\w][\w \-/]*):\s*("(?:\\.|[^\\"])*"|[^,]*)')
_SIZE = re.compile(r"^(\d+)\s*x\s*(\d+)$")


def format_parameters(meta: dict[str, Any], model_name: str) -> str:
    """A1111 text: prompt, `Negative prompt:` line, then `Key: value, …` on the last line."""
    sampler = get_sampler(meta["sampler"])
    fields: list[tuple[str, Any]] = [
        ("Steps", meta["steps"]),
        ("Sampler", sampler.name),
        ("CFG scale", f"{meta['guidance']:g}"),
        ("Seed", meta["seed"]),
        ("Size", f"{meta['width']}x{meta['height']}"),
        ("Model", model_name),
    ]
    if meta["mode"] != "txt2img":
        fields.append(("Denoising strength", f"{meta['strength']:g}"))
    if meta["mode"] == "inpaint" and "mask_blur" in meta:  # A1111's names for the same options
        fields.append(("Mask blur", meta["mask_blur"]))
        if meta.get("inpaint_area") == "only_masked":
            fields += [
                ("Inpaint area", "Only masked"),
                ("Masked area padding", meta["inpaint_padding"]),
            ]
    fields += format_fields(meta)
    lines = [prompt_with_lora_tags(meta)]
    if meta["negative_prompt"]:
        lines.append(f"Negative prompt: {meta['negative_prompt']}")
    lines.append(", ".join(f"{key}: {_quote(value)}" for key, value in fields))
    return "\n".join(lines)


def _quote(value: Any) -> str:
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if re.search(r'[,:"\n]', text) else text


def parse_parameters(text: str) -> dict[str, Any]:
    """Parses A1111 `parameters` text into the INFO_KEYS; missing fields are left out."""
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
    info: dict[str, Any] = {}
    for key, name, convert in (
        ("Steps", "steps", int),
        ("CFG scale", "cfg_scale", float),
        ("Seed", "seed", int),
    ):
        if key in params:
            with contextlib.suppress(ValueError):
                info[name] = convert(params[key])
    if "Sampler" in params:
        name = params["Sampler"]
        if params.get("Schedule type", "").lower() == "karras":  # newer A1111 splits it out
            name = f"{name} Karras"
        known = sampler_from_name(name)
        info["sampler"] = known.id if known else name
    size = _SIZE.match(params.get("Size", ""))
    if size:
        info["width"], info["height"] = int(size.group(1)), int(size.group(2))
    if "Model" in params:
        info["model"] = params["Model"]
    info.update(parse_fields(params))
    return info


def read_image_info(path: Path) -> dict[str, Any]:
    """Reads generation parameters from an image written by Brushwork, AUTOMATIC1111 (PNG text
    or JPEG/WebP EXIF), ComfyUI, InvokeAI, Fooocus or NovelAI; `source` says which."""
    try:
        with Image.open(path) as image:
            chunks = dict(getattr(image, "text", {}) or image.info)
            comment = _exif_user_comment(image)
    except FileNotFoundError:
        raise ImageInputError(f"Image not found: {path}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageInputError(f"{path} is not a readable image ({exc}).") from None
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


def _exif_user_comment(image: Image.Image) -> str | None:
    """A1111 stores its parameters text in EXIF UserComment for JPEG and WebP."""
    try:
        exif_ifd = image.getexif().get_ifd(0x8769)  # the Exif sub-IFD
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return exif_user_comment(exif_ifd.get(0x9286))


def _from_json_chunk(raw: Any) -> dict[str, Any] | None:
    data = bounded_json(raw)  # untrusted: size-capped, deep nesting refused
    if not isinstance(data, dict):
        return None
    request = data.get("request", {})
    if not isinstance(request, dict):
        return None
    info = {
        "source": "brushwork",
        "prompt": request.get("prompt"),
        "negative_prompt": request.get("negative_prompt"),
        "steps": request.get("steps"),
        "sampler": request.get("sampler"),
        "cfg_scale": request.get("guidance"),
        "seed": request.get("seed"),
        "width": request.get("width"),
        "height": request.get("height"),
        "model": data.get("model"),
    }
    keys = (*EXTRA_KEYS, *INPAINT_KEYS) if request.get("mode") == "inpaint" else EXTRA_KEYS
    info.update({k: request[k] for k in keys if k in request})
    info.update(from_request_json(request))
    return info


def json_chunk(meta: dict[str, Any], model_name: str, version: str) -> str:
    return json.dumps(
        {"app": "Brushwork", "version": version, "model": model_name, "request": meta},
        ensure_ascii=False,
    )
