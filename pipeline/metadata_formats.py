"""Generation parameters written by other tools: ComfyUI, InvokeAI, Fooocus, NovelAI, A1111 EXIF.

Every reader takes the image's text chunks (untrusted input) and returns the common keys it
could find, under the field table's names (prompt, negative_prompt, steps, sampler, guidance,
seed, width, height, model), plus `source`, or None if the format is not there. Sizes and graph
walks are bounded; malformed data yields what could be read, never an exception.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from typing import Any

from . import fields
from .samplers import sampler_from_name

MAX_TEXT = 1_000_000  # characters of one chunk we are willing to parse
MAX_NODES = 5_000  # nodes of a ComfyUI graph we are willing to walk

# Other tools' sampler names → ours (karras handled separately).
_SAMPLER_ALIASES = {
    "euler_ancestral": "euler_a", "k_euler_ancestral": "euler_a", "k_euler_a": "euler_a",
    "euler_a": "euler_a", "euler": "euler", "k_euler": "euler", "heun": "heun", "k_heun": "heun",
    "lms": "lms", "k_lms": "lms", "dpm_2": "dpm2", "k_dpm_2": "dpm2", "kdpm_2": "dpm2",
    "dpm_2_ancestral": "dpm2_a", "k_dpm_2_a": "dpm2_a", "k_dpm_2_ancestral": "dpm2_a",
    "kdpm_2_a": "dpm2_a", "dpmpp_2m": "dpmpp_2m", "k_dpmpp_2m": "dpmpp_2m",
    "dpmpp_2m_sde": "dpmpp_2m_sde", "dpmpp_2m_sde_gpu": "dpmpp_2m_sde",
    "k_dpmpp_2m_sde": "dpmpp_2m_sde", "dpmpp_sde": "dpmpp_sde", "dpmpp_sde_gpu": "dpmpp_sde",
    "k_dpmpp_sde": "dpmpp_sde", "ddim": "ddim", "plms": "pndm", "pndm": "pndm",
    "uni_pc": "unipc", "unipc": "unipc", "lcm": "lcm",
}  # fmt: skip


def sampler_id(name: str, karras: bool = False) -> str:
    """Our sampler id for another tool's name, or the name itself if we have no equivalent."""
    raw = name.strip()
    key = raw.lower()
    if key.endswith("_k"):  # InvokeAI: dpmpp_2m_k
        key, karras = key[:-2], True
    if key.endswith("_karras"):
        key, karras = key[: -len("_karras")], True
    base = _SAMPLER_ALIASES.get(key)
    if base is None:
        known = sampler_from_name(raw)
        return known.id if known else raw
    if karras and sampler_from_name(f"{base}_karras") is not None:
        return f"{base}_karras"
    return base


def bounded_json(text: Any) -> Any:
    """JSON from an untrusted chunk: None if too long, malformed or nested too deeply."""
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _number(value: Any, kind: type) -> Any:
    try:
        return kind(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError, OverflowError):
        return None


def _clean(info: dict[str, Any]) -> dict[str, Any]:
    """Numbers and texts as the field table's types (still unchecked: see `fields.clean`)."""
    out = {}
    for key, value in info.items():
        kind = fields.BY_NAME[key].kind if key in fields.BY_NAME else None
        if kind in (int, float):
            value = _number(value, kind)
        elif kind is str and value is not None:
            value = str(value)
        if value is not None:
            out[key] = value
    return out


# --- ComfyUI ---------------------------------------------------------------------------------

_SAMPLER_NODES = ("KSampler", "KSamplerAdvanced", "SamplerCustom")


def comfyui(chunks: dict[str, Any]) -> dict[str, Any] | None:
    """ComfyUI's `prompt` chunk is the API graph: {id: {class_type, inputs}}; inputs that come
    from another node are [node_id, output_index]. Start at the sampler node and follow links."""
    graph = bounded_json(chunks.get("prompt"))
    if not isinstance(graph, dict) or len(graph) > MAX_NODES:
        return None
    nodes = {str(k): v for k, v in graph.items() if isinstance(v, dict)}
    sampler = next((n for n in nodes.values() if n.get("class_type") in _SAMPLER_NODES), None)
    if sampler is None:
        return None
    inputs = sampler.get("inputs") if isinstance(sampler.get("inputs"), dict) else {}
    info: dict[str, Any] = {
        "source": "comfyui",
        "steps": inputs.get("steps"),
        "guidance": inputs.get("cfg"),
        "seed": inputs.get("seed", inputs.get("noise_seed")),
        "prompt": _comfy_text(nodes, inputs.get("positive")),
        "negative_prompt": _comfy_text(nodes, inputs.get("negative")),
    }
    if isinstance(inputs.get("sampler_name"), str):
        karras = str(inputs.get("scheduler", "")).lower() == "karras"
        info["sampler"] = sampler_id(inputs["sampler_name"], karras)
    latent = _comfy_follow(nodes, inputs.get("latent_image"), lambda n: "width" in _ins(n))
    if latent is not None:
        info["width"], info["height"] = _ins(latent).get("width"), _ins(latent).get("height")
    loader = _comfy_follow(nodes, inputs.get("model"), lambda n: "ckpt_name" in _ins(n))
    if loader is not None:
        info["model"] = str(_ins(loader)["ckpt_name"]).rsplit(".", 1)[0]
    return _clean(info)


def _ins(node: dict[str, Any]) -> dict[str, Any]:
    inputs = node.get("inputs")
    return inputs if isinstance(inputs, dict) else {}


def _comfy_follow(
    nodes: dict[str, Any], link: Any, found: Callable[[dict[str, Any]], bool]
) -> dict[str, Any] | None:
    """Walks upstream from `link` (through any node's linked inputs) to the first match."""
    seen: set[str] = set()
    frontier = [link]
    while frontier and len(seen) < MAX_NODES:
        current = frontier.pop(0)
        if not (isinstance(current, list) and current and str(current[0]) in nodes):
            continue
        key = str(current[0])
        if key in seen:
            continue
        seen.add(key)
        node = nodes[key]
        if found(node):
            return node
        frontier.extend(v for v in _ins(node).values() if isinstance(v, list))
    return None


def _comfy_text(nodes: dict[str, Any], link: Any) -> str | None:
    node = _comfy_follow(nodes, link, lambda n: isinstance(_ins(n).get("text"), str))
    if node is None:
        node = _comfy_follow(nodes, link, lambda n: isinstance(_ins(n).get("text_g"), str))
        return _ins(node).get("text_g") if node else None
    return _ins(node)["text"]


# --- InvokeAI --------------------------------------------------------------------------------


def invokeai(chunks: dict[str, Any]) -> dict[str, Any] | None:
    data = bounded_json(chunks.get("invokeai_metadata"))
    if isinstance(data, dict):
        model = data.get("model")
        name = model.get("name") or model.get("model_name") if isinstance(model, dict) else model
        info = {
            "source": "invokeai",
            "prompt": data.get("positive_prompt"),
            "negative_prompt": data.get("negative_prompt"),
            "steps": data.get("steps"),
            "guidance": data.get("cfg_scale"),
            "seed": data.get("seed"),
            "width": data.get("width"),
            "height": data.get("height"),
            "model": name,
        }
        if isinstance(data.get("scheduler"), str):
            info["sampler"] = sampler_id(data["scheduler"])
        return _clean(info)
    legacy = bounded_json(chunks.get("sd-metadata"))
    if isinstance(legacy, dict) and isinstance(legacy.get("image"), dict):
        return _invokeai_v2(legacy)
    if isinstance(chunks.get("Dream"), str):
        return _dream(chunks["Dream"][:MAX_TEXT])
    return None


def _invokeai_v2(data: dict[str, Any]) -> dict[str, Any]:
    image = data["image"]
    prompt = image.get("prompt")
    if isinstance(prompt, list):  # [{"prompt": "...", "weight": 1.0}, …]
        prompt = " ".join(str(p.get("prompt", "")) for p in prompt if isinstance(p, dict))
    positive, negative = _split_negative(prompt) if isinstance(prompt, str) else (None, None)
    info = {
        "source": "invokeai",
        "prompt": positive,
        "negative_prompt": negative,
        "steps": image.get("steps"),
        "guidance": image.get("cfg_scale"),
        "seed": image.get("seed"),
        "width": image.get("width"),
        "height": image.get("height"),
        "model": data.get("model_weights"),
    }
    if isinstance(image.get("sampler"), str):
        info["sampler"] = sampler_id(image["sampler"])
    return _clean(info)


def _split_negative(prompt: str) -> tuple[str, str]:
    """InvokeAI 2 wrote the negative prompt in square brackets inside the prompt.

    The prompt is untrusted: a bracket regex searched over it retries from every space and
    every unclosed `[` (quadratic: 36 s for 100 000 characters). Splitting at `]` gives the
    same pairs in one pass: in each piece, the text from its first `[` is a bracketed part.
    """
    texts: list[str] = []
    negatives: list[str] = []
    plain: list[str] = []  # text since the last bracketed part
    pieces = prompt.split("]")
    for piece in pieces[:-1]:
        before, bracket, inside = piece.partition("[")
        if bracket:
            texts.append("".join([*plain, before]))
            negatives.append(inside)
            plain = []
        else:  # a `]` that closes nothing is text
            plain += [piece, "]"]
    texts.append("".join([*plain, pieces[-1]]))
    if not negatives:
        return prompt.strip(), ""
    # The brackets and the spaces around them become one space.
    middle = [text.strip() for text in texts[1:-1]]
    positive = " ".join([texts[0].rstrip(), *middle, texts[-1].lstrip()])
    return positive.strip(), ", ".join(n.strip() for n in negatives)


_DREAM_FLAGS = {"-s": "steps", "-S": "seed", "-W": "width", "-H": "height", "-C": "guidance",
                "-A": "sampler"}  # fmt: skip


def _dream(text: str) -> dict[str, Any]:
    """`"a prompt [negative]" -s 50 -S 42 -W 512 -H 512 -C 7.5 -A k_euler_a`."""
    prompt, rest = _quoted_prompt(text)
    positive, negative = _split_negative(prompt)
    info: dict[str, Any] = {"source": "invokeai", "prompt": positive, "negative_prompt": negative}
    tokens = rest.split()
    for flag, value in itertools.pairwise(tokens):
        if flag in _DREAM_FLAGS:
            info[_DREAM_FLAGS[flag]] = sampler_id(value) if flag == "-A" else value
    return _clean(info)


_QUOTED_BODY = re.compile(r'[^"\\]*(?:\\.[^"\\]*)*')  # to an unescaped quote (unrolled: one pass)


def _quoted_prompt(text: str) -> tuple[str, str]:
    """The leading double-quoted prompt and the rest of its line; ("", text) if there is none.

    Anchored at the one place a prompt can start, so it is one pass over untrusted text.
    """
    start = len(text) - len(text.lstrip())
    if text[start : start + 1] == '"':
        body = _QUOTED_BODY.match(text, start + 1)
        if body is not None and text[body.end() : body.end() + 1] == '"':
            return body.group(), text[body.end() + 1 :].split("\n", 1)[0]
    return "", text


# --- Fooocus ---------------------------------------------------------------------------------


def fooocus(chunks: dict[str, Any]) -> dict[str, Any] | None:
    """Fooocus writes `fooocus_scheme` and a JSON `parameters` chunk (A1111 scheme is parsed
    by the A1111 reader)."""
    data = bounded_json(chunks.get("parameters"))
    if not isinstance(data, dict) or not (
        "fooocus_scheme" in chunks or "Fooocus" in str(data.get("version", ""))
    ):
        return None
    width = height = None
    resolution = data.get("resolution")
    if isinstance(resolution, str):
        found = re.findall(r"\d+", resolution)
        if len(found) == 2:
            width, height = found
    elif isinstance(resolution, list) and len(resolution) == 2:
        width, height = resolution
    info = {
        "source": "fooocus",
        "prompt": data.get("prompt"),
        "negative_prompt": data.get("negative_prompt"),
        "steps": data.get("steps"),
        "guidance": data.get("guidance_scale"),
        "seed": data.get("seed"),
        "width": width,
        "height": height,
        "model": str(data.get("base_model", "")).rsplit(".", 1)[0] or None,
    }
    if isinstance(data.get("sampler"), str):
        karras = str(data.get("scheduler", "")).lower() == "karras"
        info["sampler"] = sampler_id(data["sampler"], karras)
    return _clean(info)


# --- NovelAI ---------------------------------------------------------------------------------


def novelai(chunks: dict[str, Any]) -> dict[str, Any] | None:
    """NovelAI: `Software: NovelAI`, the prompt in `Description`, settings as JSON `Comment`."""
    if str(chunks.get("Software", "")).strip() != "NovelAI":
        return None
    data = bounded_json(chunks.get("Comment"))
    data = data if isinstance(data, dict) else {}
    info = {
        "source": "novelai",
        "prompt": data.get("prompt", chunks.get("Description")),
        "negative_prompt": data.get("uc"),
        "steps": data.get("steps"),
        "guidance": data.get("scale"),
        "seed": data.get("seed"),
        "width": data.get("width"),
        "height": data.get("height"),
        "model": "NovelAI",
    }
    if isinstance(data.get("sampler"), str):
        info["sampler"] = sampler_id(data["sampler"])
    return _clean(info)


# --- A1111 in JPEG/WebP EXIF -----------------------------------------------------------------


def exif_user_comment(raw: Any) -> str | None:
    """Decodes EXIF UserComment: an 8-byte charset prefix, then the text (A1111 writes
    "UNICODE" + UTF-16, big-endian by its library; little-endian files exist too)."""
    if isinstance(raw, str):
        return raw[:MAX_TEXT]
    if not isinstance(raw, bytes) or len(raw) < 8:
        return None
    prefix, body = raw[:8], raw[8 : 8 + 2 * MAX_TEXT]
    if prefix.startswith(b"UNICODE"):
        big_endian = body[:1] == b"\x00" or body[:2] == b"\xfe\xff"
        return body.decode("utf-16-be" if big_endian else "utf-16-le", errors="replace").lstrip(
            "\ufeff"
        )
    return body.decode("utf-8" if prefix.startswith(b"ASCII") else "latin-1", errors="replace")


READERS: tuple[Callable[[dict[str, Any]], dict[str, Any] | None], ...] = (
    comfyui,
    invokeai,
    fooocus,
    novelai,
)
