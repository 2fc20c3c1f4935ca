"""The request fields added for prompt syntax (and, later, LoRA, embeddings, VAE, clip skip).

Each field is defined once here: name, default, how it is checked, and its A1111 `Key: value`
form in the parameters text. request.py, metadata.py and cli.py read these definitions, so the
fields can move into a common field table as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import RequestError
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

FIELDS: tuple[ExtraField, ...] = (PROMPT_STYLE,)


def check_fields(request: Any) -> None:
    """Validates (and normalizes) every extra field of a frozen GenerationRequest, and the
    prompts' A1111 syntax (weights, nesting) so a bad weight is refused before any work."""
    for spec in FIELDS:
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
        if spec.a1111_key in params:
            try:
                info[spec.name] = spec.parse(params[spec.a1111_key])
            except ValueError:
                continue
    return info


def from_request_json(request: dict[str, Any]) -> dict[str, Any]:
    """The extra fields from our JSON chunk's request (checked again when a request is built)."""
    return {spec.name: request[spec.name] for spec in FIELDS if spec.name in request}
