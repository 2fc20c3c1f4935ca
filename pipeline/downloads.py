"""Downloading diffusers models from the Hugging Face Hub into the standard HF cache.

Files land exactly where `huggingface_hub` (and every other tool using it) puts them, so models
other tools downloaded are reused and ours are reused by them. Progress is reported in bytes
with speed and time left; cancelling stops within one network chunk and leaves the partial file,
which the next attempt resumes instead of starting over.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from .cache_paths import CachePaths, cache_paths
from .errors import Cancelled, ModelError

# What a diffusers pipeline needs: configs, tokenizer files and safetensors weights. Pickle
# weights (.bin, .ckpt), ONNX/Flax exports and sample images are left on the server.
WANTED = ("*.json", "*.txt", "*.model", "*.safetensors")
UNWANTED = ("*.onnx*", "*.msgpack", "*.h5", "*.bin", "*.ckpt", "*.pt", "*.pth", "*.png", "*.jpg")
POLL_SECONDS = 1.0  # longest wait for one read: how soon cancel is seen on a silent server


@dataclass(frozen=True)
class DownloadProgress:
    done_bytes: int
    total_bytes: int
    bytes_per_second: float
    current_file: str

    @property
    def seconds_left(self) -> float | None:
        if self.bytes_per_second <= 0:
            return None
        return max(self.total_bytes - self.done_bytes, 0) / self.bytes_per_second


ProgressCallback = Callable[[DownloadProgress], None]


def files_to_fetch(filenames: list[str]) -> list[str]:
    """The repository files a diffusers pipeline needs; fp16/other variants only if no plain one.

    A repo often has `unet/diffusion_pytorch_model.safetensors` and `.fp16.safetensors` beside
    it: one copy of the weights is enough.
    """
    wanted = [
        name
        for name in filenames
        if any(fnmatch.fnmatch(name, p) for p in WANTED)
        and not any(fnmatch.fnmatch(name, p) for p in UNWANTED)
    ]
    weights = [n for n in wanted if n.endswith(".safetensors")]
    plain_folders = {n.rsplit("/", 1)[0] for n in weights if _variant(n) is None}
    return [
        n
        for n in wanted
        if not n.endswith(".safetensors")
        or _variant(n) is None
        or n.rsplit("/", 1)[0] not in plain_folders
    ]


def _variant(filename: str) -> str | None:
    parts = filename.rsplit("/", 1)[-1].split(".")
    return parts[-2] if len(parts) >= 3 else None


class _Tracker:
    """Adds up bytes from all files and turns them into speed (over the last few seconds)."""

    def __init__(self, total: int, done: int, on_progress: ProgressCallback | None) -> None:
        self.total, self.done = total, done
        self.on_progress = on_progress
        self.file = ""
        self._samples: list[tuple[float, int]] = [(time.monotonic(), done)]
        self._last_report = 0.0

    def add(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        self._samples = [s for s in self._samples if now - s[0] <= 3.0] + [(now, self.done)]
        if now - self._last_report >= 0.1 or self.done >= self.total:
            self._last_report = now
            self.report()

    def report(self) -> None:
        (t0, b0), (t1, b1) = self._samples[0], self._samples[-1]
        speed = (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0
        if self.on_progress is not None:
            self.on_progress(DownloadProgress(self.done, self.total, speed, self.file))


def download_model(
    repo_id: str,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    endpoint: str | None = None,
    cache_dir: Path | None = None,
    index_file: str = "model_index.json",
) -> Path:
    """Downloads what `repo_id` needs into the HF cache and returns its snapshot folder.
    `index_file` is the file that says what the repo is (a ControlNet's is config.json).

    The server is untrusted (HF_ENDPOINT may name a mirror, or plain http a man in the middle):
    every value from it that becomes part of a path (commit id, file names, ETags) is checked
    by `cache_paths` before anything is created or written.
    """
    from huggingface_hub import HfApi, constants
    from huggingface_hub.errors import RepositoryNotFoundError

    endpoint = endpoint or constants.ENDPOINT  # HF_ENDPOINT selects a mirror
    try:
        # huggingface_hub's session has no timeout of its own: a silent server would hang here.
        api = HfApi(endpoint=endpoint)
        info = api.model_info(repo_id, files_metadata=True, timeout=stall_seconds())
    except RepositoryNotFoundError:
        raise ModelError(f"There is no model {repo_id!r} on the Hub (or it is private).") from None
    except Exception as exc:  # network errors come in many types (httpx, OSError, HTTP status)
        raise ModelError(f"Could not reach the Hub for {repo_id!r}: {exc}") from exc
    sizes = {s.rfilename: s.size or 0 for s in info.siblings or []}
    names = files_to_fetch(sorted(sizes))
    if index_file not in names:
        raise ModelError(f"{repo_id!r} is not a diffusers pipeline (no {index_file}).")
    paths = cache_paths(Path(cache_dir or constants.HF_HUB_CACHE), repo_id, info.sha)
    for name in names:  # all checked before the first byte is written
        paths.pointer(name)
    tracker = _Tracker(sum(sizes[n] for n in names), 0, on_progress)
    for name in names:
        tracker.file = name
        try:
            _fetch(repo_id, name, paths, sizes[name], endpoint, tracker, cancel)
        except (Cancelled, ModelError):
            raise
        except Exception as exc:
            raise ModelError(f"Downloading {repo_id}/{name} failed: {exc}") from exc
    paths.ref.parent.mkdir(parents=True, exist_ok=True)
    paths.ref.write_text(paths.commit)
    tracker.report()
    return paths.snapshot


def _fetch(
    repo_id: str,
    name: str,
    paths: CachePaths,
    listed_size: int,
    endpoint: str,
    tracker: _Tracker,
    cancel: threading.Event | None,
) -> None:
    """One file into the cache layout: `blobs/<etag>` plus a `snapshots/<commit>/<name>` link.

    Why not `hf_hub_download`: huggingface_hub 2.x downloads into a throw-away temp file (an
    interrupted multi-gigabyte download starts over), cannot be cancelled between chunks, and
    joins the server's ETag into the blob path unchecked. Here the partial blob is kept and
    continued with a Range request, cancel is checked at least once a second, and the ETag is
    validated. Its metadata HEAD, headers and HTTP session are used as they are.
    """
    from huggingface_hub import get_hf_file_metadata
    from huggingface_hub.utils import build_hf_headers

    # The Hub's documented file URL (hf_hub_url formats from a template fixed at import time,
    # so it ignores an endpoint chosen later).
    url = f"{endpoint}/{repo_id}/resolve/{paths.commit}/{quote(name)}"
    headers = build_hf_headers()
    meta = get_hf_file_metadata(url, headers=headers)
    blob = paths.blob(meta.etag, name)
    size = meta.size if meta.size is not None else (listed_size or None)
    if size is None:
        raise ModelError(f"The server did not say how large {name!r} is; it was not downloaded.")
    if blob.exists():
        tracker.add(blob.stat().st_size)
    else:
        blob.parent.mkdir(parents=True, exist_ok=True)
        partial = blob.with_name(blob.name + ".partial")
        _stream(url, headers, partial, size, name, tracker, cancel)
        os.replace(partial, blob)
    _link(blob, paths.pointer(name))


def _stream(
    url: str,
    headers: dict[str, str],
    partial: Path,
    size: int,
    name: str,
    tracker: _Tracker,
    cancel: threading.Event | None,
) -> None:
    """GETs `url` into `partial` (continuing what is there) until it holds `size` bytes.

    Each read waits at most POLL_SECONDS, so cancel is seen within a second even from a server
    that went silent; the connection is then reopened with a Range request, until the server
    has sent nothing for `stall_seconds()` (HF_HUB_DOWNLOAD_TIMEOUT, default 10 s).
    """
    if partial.exists() and partial.stat().st_size > size:  # not this file's beginning
        partial.unlink()
    tracker.add(partial.stat().st_size if partial.exists() else 0)
    silent_since: float | None = None
    while True:
        have = partial.stat().st_size if partial.exists() else 0
        try:
            _get_range(url, headers, partial, have, size, name, tracker, cancel)
            break
        except _read_timeout() as exc:
            if cancel is not None and cancel.is_set():
                raise Cancelled("Download cancelled; it will resume where it stopped.") from None
            now = time.monotonic()
            grown = (partial.stat().st_size if partial.exists() else 0) > have
            silent_since = None if grown else (silent_since or now - POLL_SECONDS)
            if silent_since is not None and now - silent_since >= stall_seconds():
                raise ModelError(
                    f"The server stopped sending {name!r} (nothing for {stall_seconds():.0f} s); "
                    "try again to resume the download."
                ) from exc
    if partial.stat().st_size != size:
        raise ModelError(f"{name} arrived incomplete; try again to resume the download.")


def _get_range(
    url: str,
    headers: dict[str, str],
    partial: Path,
    start: int,
    size: int,
    name: str,
    tracker: _Tracker,
    cancel: threading.Event | None,
) -> None:
    """One GET from byte `start`; refuses to write past `size` (the size HEAD announced)."""
    import httpx2  # huggingface_hub 2.x's HTTP client (its session is an httpx2.Client)
    from huggingface_hub import get_session
    from huggingface_hub.utils import hf_raise_for_status

    if start == size:
        return
    ranged = {"Range": f"bytes={start}-"} if start else {}
    timeout = httpx2.Timeout(stall_seconds(), read=POLL_SECONDS)
    with get_session().stream("GET", url, headers={**headers, **ranged}, timeout=timeout,
                              follow_redirects=True) as response:  # fmt: skip
        hf_raise_for_status(response)
        if start and response.status_code != 206:  # the server ignored the range
            tracker.add(-start)
            start = 0
        written = start
        with partial.open("ab" if start else "wb") as handle:
            for chunk in response.iter_bytes():  # as they arrive: a stall keeps them
                written += len(chunk)
                if written > size:
                    handle.close()
                    partial.unlink()
                    raise ModelError(
                        f"The server sent more than the {size:,} bytes it announced for "
                        f"{name!r}; the download was stopped and the file discarded."
                    )
                handle.write(chunk)
                tracker.add(len(chunk))
                if cancel is not None and cancel.is_set():
                    raise Cancelled("Download cancelled; it will resume where it stopped.")


def _read_timeout() -> type[Exception]:
    import httpx2

    return httpx2.TimeoutException


def stall_seconds() -> float:
    """How long a server may send nothing before the download fails (HF_HUB_DOWNLOAD_TIMEOUT)."""
    from huggingface_hub import constants

    return float(constants.HF_HUB_DOWNLOAD_TIMEOUT)


def _link(blob: Path, pointer: Path) -> None:
    """A relative symlink as huggingface_hub makes it; a copy where symlinks are not allowed."""
    if pointer.is_symlink() or pointer.exists():
        return
    pointer.parent.mkdir(parents=True, exist_ok=True)
    try:
        pointer.symlink_to(os.path.relpath(blob, pointer.parent))
    except OSError:
        shutil.copyfile(blob, pointer)


def is_offline() -> bool:
    """HF_HUB_OFFLINE is set: use the cache only, never the network."""
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def is_downloaded(repo_id: str, cache_dir: Path | None = None) -> bool:
    """Whether the cache holds this repo's pipeline index (other tools' downloads count too)."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, "model_index.json", cache_dir=cache_dir)
    return isinstance(found, str)


def format_progress(progress: DownloadProgress) -> str:
    """`1.2 GB of 2.0 GB · 12.5 MB/s · 1:05 left`."""
    text = f"{_size(progress.done_bytes)} of {_size(progress.total_bytes)}"
    if progress.bytes_per_second > 0:
        text += f" · {_size(progress.bytes_per_second)}/s"
    left = progress.seconds_left
    if left is not None:
        text += f" · {int(left) // 60}:{int(left) % 60:02d} left"
    return text


def _size(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} GB"
