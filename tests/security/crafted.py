"""Crafted files for the attacks: PostScript dressed as PNG, PNGs whose header claims any size,
text chunks after the pixels, animated PNGs."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

EPS = b"""%!PS-Adobe-3.0 EPSF-3.0
%%BoundingBox: 0 0 16 16
%%EndComments
newpath 0 0 moveto 16 16 lineto stroke
showpage
%%EOF
"""


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def text_chunk(key: str, value: str, compressed: bool = False) -> bytes:
    if compressed:
        return chunk(b"zTXt", key.encode("latin-1") + b"\0\0" + zlib.compress(value.encode()))
    return chunk(b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1"))


def png(
    width: int,
    height: int,
    before: bytes = b"",
    after: bytes = b"",
    frames: int = 1,
) -> bytes:
    """A greyscale PNG of `width`×`height` (rows of zeros: compresses to almost nothing), with
    chunks `before` and `after` the pixels; `frames` > 1 makes an APNG of identical frames."""
    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    squeezer = zlib.compressobj(9)
    row = b"\0" * (width + 1)
    pixels = b"".join(squeezer.compress(row) for _ in range(height)) + squeezer.flush()
    body = chunk(b"IDAT", pixels)
    if frames > 1:
        before = chunk(b"acTL", struct.pack(">II", frames, 0)) + before
        body = _fctl(0, width, height) + body
        for index in range(1, frames):
            seq = 2 * index - 1
            body += _fctl(seq, width, height) + chunk(b"fdAT", struct.pack(">I", seq + 1) + pixels)
    return b"\x89PNG\r\n\x1a\n" + header + before + body + after + chunk(b"IEND", b"")


def _fctl(seq: int, width: int, height: int) -> bytes:
    return chunk(b"fcTL", struct.pack(">IIIIIHHBB", seq, width, height, 0, 0, 1, 10, 0, 0))


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
