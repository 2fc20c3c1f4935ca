"""The request fields added for prompt syntax and LoRAs (later: embeddings, VAE, clip skip).

Each field is defined once here: name, default, how it is checked, and its A1111 `Key: value`
form in the parameters text. request.py, metadata.py and cli.py read these definitions, so the
fields can move into a common field table as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .embeddings import check_embeddings
from .errors import RequestError
from .loras import check_loras
from .prompt_weights import parse_prompt

PROMPT_STYLES = ("a1111", "pipeline")


@dataclass(frozen=True)
class ExtraField:
    name: str
    default: Any
    a1111_key: str  # the key in A1111's parameters text
    help: str
    check: Callable[[Any], Any]  # returns the value to keep; raises RequestError
    format: Callable[[Any], str | None]  # the parameters-text value; None: not written
    parse: Callable[[str], Any]  # from parameters text; raises ValueError if unreadable
    in_request: bool = True  # False: written by the engine (e.g. hashes), not a request field


def _check_prompt_style(value: Any) -> str:
    if value not in PROMPT_STYLES:
        raise RequestError(
            f"prompt_style must be one of {', '.join(PROMPT_STYLES)} (got {value!r})."
        )
    return str(value)


def _parse_prompt_style(text: str) -> str:
    value = text.strip().lower()
    if value not in PROMPT_STYLES:
        raise ValueError(text)
    return value


PROMPT_STYLE = ExtraField(
    name="prompt_style",
    default="a1111",
    a1111_key="Prompt style",  # ours: A1111 has one style only, so it is written when "pipeline"
    help="a1111: (text:1.2) weights, [text], BREAK and prompts longer than 75 tokens in chunks, "
    "as AUTOMATIC1111; pipeline: the text goes to the model's own pipeline as is (first 75 "
    "tokens, no weights)",
    check=_check_prompt_style,
    format=lambda value: None if value == "a1111" else value,
    parse=_parse_prompt_style,
)


def _check_folder(name: str, value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise RequestError(f"{name} must be a folder path or None (got {value!r}).")
    return value


def _parse_hashes(text: str) -> dict[str, str]:
    """`NAME: hash, NAME2: hash2` → {NAME: hash}."""
    pairs = {}
    for part in text.split(","):
        name, sep, digest = part.rpartition(":")
        if sep and name.strip() and digest.strip():
            pairs[name.strip()] = digest.strip()
    if not pairs:
        raise ValueError(text)
    return pairs


LORAS = ExtraField(
    name="loras",
    default=(),
    a1111_key="",  # A1111 has no key: each one is written as a <lora:NAME:W> tag in the prompt
    help="LoRA file (or name in the LoRA folder) and weight, PATH[:WEIGHT]",
    check=check_loras,
    format=lambda value: None,
    parse=lambda text: (),
)
LORA_DIR = ExtraField(
    name="lora_dir",
    default=None,
    a1111_key="",  # machine-local: not written
    help="folder of the LoRAs that <lora:NAME:W> prompt tags name (default: <user data "
    "dir>/Brushwork/loras)",
    check=lambda value: _check_folder("lora_dir", value),
    format=lambda value: None,
    parse=lambda text: None,
)
LORA_HASHES = ExtraField(
    name="lora_hashes",
    default="",
    a1111_key="Lora hashes",
    help="A1111's short sha256 of each applied LoRA's tensor data",
    check=lambda value: value,
    format=lambda value: value or None,
    parse=_parse_hashes,
    in_request=False,
)

EMBEDDINGS = ExtraField(
    name="embeddings",
    default=(),
    a1111_key="",  # A1111 has no key: an embedding is used by its name in the prompt
    help="textual-inversion embedding file (.safetensors), used by its file name in the prompt",
    check=check_embeddings,
    format=lambda value: None,
    parse=lambda text: (),
)
EMBEDDING_DIR = ExtraField(
    name="embedding_dir",
    default=None,
    a1111_key="",  # machine-local: not written
    help="folder of embeddings used by file name in the prompt (default: <user data "
    "dir>/Brushwork/embeddings)",
    check=lambda value: _check_folder("embedding_dir", value),
    format=lambda value: None,
    parse=lambda text: None,
)
TI_HASHES = ExtraField(
    name="ti_hashes",
    default="",
    a1111_key="TI hashes",
    help="A1111's short sha256 of each embedding the prompts used",
    check=lambda value: value,
    format=lambda value: value or None,
    parse=_parse_hashes,
    in_request=False,
)


def _check_clip_skip(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 12:
        raise RequestError(f"clip_skip must be a whole number from 1 to 12 (got {value!r}).")
    return value


def _parse_clip_skip(text: str) -> int:
    value = int(text.strip())
    if not 1 <= value <= 12:
        raise ValueError(text)
    return value


CLIP_SKIP = ExtraField(
    name="clip_skip",
    default=1,
    a1111_key="Clip skip",
    help="1-12: read the text encoder's output this many layers from the end (A1111's "
    "'Clip skip'; 2 for many anime models)",
    check=_check_clip_skip,
    format=lambda value: None if value == 1 else str(value),
    parse=_parse_clip_skip,
)

VAE = ExtraField(
    name="vae",
    default=None,
    a1111_key="",  # a path is machine-local; the name goes under "VAE" (VAE_NAME)
    help="a separate VAE: .safetensors file (diffusers or original layout) or diffusers folder",
    check=lambda value: _check_folder("vae", value),
    format=lambda value: None,
    parse=lambda text: None,
)
VAE_NAME = ExtraField(
    name="vae_name",
    default=None,
    a1111_key="VAE",
    help="the separate VAE's file name without extension, as A1111 writes it",
    check=lambda value: value,
    format=lambda value: value or None,
    parse=lambda text: text.strip(),
    in_request=False,
)

FIELDS: tuple[ExtraField, ...] = (
    PROMPT_STYLE, LORAS, LORA_DIR, LORA_HASHES, EMBEDDINGS, EMBEDDING_DIR, TI_HASHES, CLIP_SKIP,
    VAE, VAE_NAME,
)  # fmt: skip


def check_fields(request: Any) -> None:
    """Validates (and normalizes) every extra field of a frozen GenerationRequest, and the
    prompts' A1111 syntax (weights, nesting) so a bad weight is refused before any work."""
    for spec in FIELDS:
        if spec.in_request:
            object.__setattr__(request, spec.name, spec.check(getattr(request, spec.name)))
    if request.prompt_style == "a1111":
        for name in ("prompt", "negative_prompt"):
            try:
                parse_prompt(getattr(request, name))
            except RequestError as exc:
                raise RequestError(f"{name}: {exc}") from None


def format_fields(meta: dict[str, Any]) -> list[tuple[str, str]]:
    """The `Key: value` pairs of the extra fields for the A1111 parameters text."""
    pairs = []
    for spec in FIELDS:
        text = spec.format(meta.get(spec.name, spec.default))
        if text is not None:
            pairs.append((spec.a1111_key, text))
    return pairs


def parse_fields(params: dict[str, str]) -> dict[str, Any]:
    """The extra fields found in parsed A1111 `Key: value` pairs; unreadable ones are left out."""
    info: dict[str, Any] = {}
    for spec in FIELDS:
        if spec.a1111_key and spec.a1111_key in params:
            try:
                info[spec.name] = spec.parse(params[spec.a1111_key])
            except ValueError:
                continue
    return info


def from_request_json(request: dict[str, Any]) -> dict[str, Any]:
    """The extra fields from our JSON chunk's request (checked again when a request is built)."""
    found = {spec.name: request[spec.name] for spec in FIELDS if spec.name in request}
    if isinstance(found.get("loras"), list):  # JSON has no tuples
        found["loras"] = tuple(tuple(pair) for pair in found["loras"] if isinstance(pair, list))
    if isinstance(found.get("embeddings"), list):
        found["embeddings"] = tuple(found["embeddings"])
    return found


def prompt_with_lora_tags(meta: dict[str, Any]) -> str:
    """The prompt for A1111's parameters text: the LoRAs given outside the prompt are added as
    `<lora:NAME:W>` tags, so A1111 (and our reader) applies them again."""
    prompt = meta["prompt"]
    tags = [f"<lora:{Path(path).stem}:{weight:g}>" for path, weight in meta.get("loras", ())]
    return " ".join([prompt, *tags]) if tags else prompt
