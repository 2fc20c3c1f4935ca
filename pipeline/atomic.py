"""Crash-safe file writes: the whole new file or the old one, never a truncated mix.

The data goes to a temporary file in the target's own folder (a rename across file systems is a
copy, not atomic), is flushed to disk, and only then renamed over the target. A failure or a kill
at any point leaves the target as it was; a failed write removes its temporary file.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

Writer = Callable[[IO[bytes]], None]

# The process's umask, read once at import (reading it means setting it, which is not
# thread-safe later): files meant for the user get the permissions any program would give them.
_UMASK = os.umask(0)
os.umask(_UMASK)
SHARED_MODE = 0o666 & ~_UMASK  # e.g. 0644: mkstemp alone would leave 0600


def write_atomically(
    directory: Path,
    write: Writer,
    place: Callable[[str], Path],
    prefix: str = ".",
    suffix: str = ".part",
    mode: int | None = None,
) -> Path:
    """Calls `write` on a temporary file in `directory`, fsyncs it, then `place(temp name)` moves
    it to its final name (a rename or an atomic claim, see outputs.py) and returns that name;
    it runs only after the data is on disk. Raises OSError (the temporary file is gone then)
    and whatever `write` raises. `mode`: the file's permissions (default: mkstemp's 0600)."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=directory)
    try:
        if mode is not None:
            os.chmod(tmp_name, mode)  # os.fchmod is POSIX-only before Python 3.13
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        return place(tmp_name)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise


def replace_atomically(path: Path, write: Writer, prefix: str = ".") -> Path:
    """Writes `path` (replacing it) through `write`, crash-safely."""

    def rename(tmp_name: str) -> Path:
        os.replace(tmp_name, path)
        return path

    return write_atomically(path.parent, write, rename, prefix, ".tmp")


def write_json_atomically(path: Path, data: Any, indent: int | None = None) -> None:
    """Writes `data` as UTF-8 JSON to `path`, crash-safely; raises OSError."""
    text = json.dumps(data, indent=indent, ensure_ascii=False).encode("utf-8")
    replace_atomically(path, lambda handle: handle.write(text), prefix=f".{path.stem}-")
