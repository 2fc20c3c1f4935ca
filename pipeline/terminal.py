"""Text from files, made safe to print to a terminal.

Metadata is untrusted: an image's prompt can hold ESC sequences that set the terminal's title,
clear the screen or print fake coloured lines, a bare CR that overwrites what was printed, or
bidi overrides that make text read differently from what it is. Every such character is shown
as an escape (`\\x1b`, `\\u202e`) instead.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

# Bidi embeddings/overrides/isolates: invisible, and they reorder what follows.
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


def _unsafe(char: str) -> bool:
    return char in _BIDI or unicodedata.category(char) in ("Cc", "Zl", "Zp")


def printable(text: str) -> str:
    """`text` with control characters (C0, DEL, C1, line separators; newline and tab too, so
    one value stays on one line) and bidi controls written as Python-style escapes."""
    if text.isprintable():  # the common case, checked in C
        return text
    return "".join(_escape(c) if _unsafe(c) else c for c in text)


_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable_json(value: Any) -> str:
    """JSON of `value` for the terminal: like json.dumps(ensure_ascii=False), but the control
    characters JSON allows raw (DEL, C1, bidi) are written as \\u escapes too, so it stays
    valid JSON that reads back the same."""
    text = json.dumps(value, ensure_ascii=False, indent=2)  # C0 controls are escaped already
    return "".join(f"\\u{ord(c):04x}" if c != "\n" and _unsafe(c) else c for c in text)
