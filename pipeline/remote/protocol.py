"""ComfyUI's WebSocket frames, read defensively: every field comes from a server we do not trust.

Text frames are JSON `{"type": …, "data": {…}}`. Binary frames start with a big-endian u32 event:
1 = preview image (u32 format, 1 JPEG / 2 PNG, then the image), 4 = preview with metadata (u32
length, that many bytes of JSON, then the image; sent only to clients that announced
`supports_preview_metadata` in a first `feature_flags` message). Other events are ignored.
"""

from __future__ import annotations

import io
import json
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from .errors import RemoteError

PREVIEW_IMAGE = 1
PREVIEW_WITH_METADATA = 4
MAX_PREVIEW_SIDE = 4096  # a preview larger than any generation is not a preview
FEATURE_FLAGS = {"type": "feature_flags", "data": {"supports_preview_metadata": True}}


@dataclass(frozen=True)
class Message:
    type: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Preview:
    image: np.ndarray  # h×w×3 uint8
    prompt_id: str | None  # only event 4 says which job it belongs to


def safe_text(value: object, limit: int = 300) -> str:
    """Server-supplied text made safe to print or show: control characters (terminal escape
    sequences, newlines) written as escapes, and at most `limit` characters."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        text = text[:limit] + "…"
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def parse_text(text: str, server: str) -> Message:
    """A text frame as a Message; RemoteError if it is not the JSON object ComfyUI sends."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise RemoteError(
            f"{server} sent a malformed message (not JSON): {safe_text(text, 80)}"
        ) from None
    if not isinstance(value, dict) or not isinstance(value.get("type"), str):
        raise RemoteError(f"{server} sent a malformed message (no type): {safe_text(text, 80)}")
    data = value.get("data")
    return Message(value["type"], data if isinstance(data, dict) else {})


def parse_binary(frame: bytes) -> Preview | None:
    """The preview in a binary frame; None for events Brushwork does not use.

    Raises ValueError (with the reason) for a preview frame that cannot be read."""
    if len(frame) < 8:
        raise ValueError(f"a binary frame of {len(frame)} bytes is too short")
    (event,) = struct.unpack_from(">I", frame, 0)
    prompt_id = None
    if event == PREVIEW_IMAGE:
        payload = frame[8:]  # the format word is not needed: PIL reads JPEG and PNG alike
    elif event == PREVIEW_WITH_METADATA:
        (length,) = struct.unpack_from(">I", frame, 4)
        if length > len(frame) - 8:
            raise ValueError(f"its metadata length {length} runs past the frame")
        try:
            meta = json.loads(frame[8 : 8 + length])
        except ValueError:
            raise ValueError("its metadata is not JSON") from None
        if isinstance(meta, dict) and isinstance(meta.get("prompt_id"), str):
            prompt_id = meta["prompt_id"]
        payload = frame[8 + length :]
    else:
        return None
    return Preview(decode_image(payload, MAX_PREVIEW_SIDE), prompt_id)


def decode_image(data: bytes, max_side: int) -> np.ndarray:
    """PNG/JPEG bytes as h×w×3 uint8; ValueError for anything else or anything too large."""
    try:
        with Image.open(io.BytesIO(data), formats=("PNG", "JPEG")) as image:
            if image.format not in ("PNG", "JPEG"):
                raise ValueError(f"it is {image.format or 'not an image'}, not PNG or JPEG")
            if max(image.size) > max_side:
                raise ValueError(f"it is {image.width}×{image.height}, over {max_side} pixels")
            return np.asarray(image.convert("RGB"))
    except (OSError, Image.DecompressionBombError, SyntaxError) as exc:
        raise ValueError(f"it is not a readable image ({exc})") from None


def encode_png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()
