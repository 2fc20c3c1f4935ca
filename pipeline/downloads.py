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

from .errors import Cancelled, ModelError

# What a diffusers pipeline needs: configs, tokenizer files and safetensors weights. Pickle
# weights (.bin, .ckpt), ONNX/Flax exports and sample images are left on the server.
WANTED = ("*.json", "*.txt", "*.model", "*.safetensors")
UNWANTED = ("*.onnx*", "*.msgpack", "*.h5", "*.bin", "*.ckpt", "*.pt", "*.pth", "*.png", "*.jpg")


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
) -> Path:
    """Downloads what `repo_id` needs into the HF cache and returns its snapshot folder."""
    from huggingface_hub import HfApi, constants
    from huggingface_hub.errors import RepositoryNotFoundError

    endpoint = endpoint or constants.ENDPOINT  # HF_ENDPOINT selects a mirror
    try:
        info = HfApi(endpoint=endpoint).model_info(repo_id, files_metadata=True)
    except RepositoryNotFoundError:
        raise ModelError(f"There is no model {repo_id!r} on the Hub (or it is private).") from None
    except Exception as exc:  # network errors come in many types (httpx, OSError, HTTP status)
        raise ModelError(f"Could not reach the Hub for {repo_id!r}: {exc}") from exc
    sizes = {s.rfilename: s.size or 0 for s in info.siblings or []}
    names = files_to_fetch(sorted(sizes))
    if "model_index.json" not in names:
        raise ModelError(f"{repo_id!r} is not a diffusers pipeline (no model_index.json).")
    repo_dir = Path(cache_dir or constants.HF_HUB_CACHE) / ("models--" + repo_id.replace("/", "--"))
    tracker = _Tracker(sum(sizes[n] for n in names), 0, on_progress)
    for name in names:
        tracker.file = name
        try:
            _fetch(repo_id, name, str(info.sha), endpoint, repo_dir, tracker, cancel)
        except (Cancelled, ModelError):
            raise
        except Exception as exc:
            raise ModelError(f"Downloading {repo_id}/{name} failed: {exc}") from exc
    (repo_dir / "refs").mkdir(parents=True, exist_ok=True)
    (repo_dir / "refs" / "main").write_text(str(info.sha))
    tracker.report()
    return repo_dir / "snapshots" / str(info.sha)


def _fetch(
    repo_id: str,
    name: str,
    commit: str,
    endpoint: str,
    repo_dir: Path,
    tracker: _Tracker,
    cancel: threading.Event | None,
) -> None:
    """One file into the cache layout: `blobs/<etag>` plus a `snapshots/<commit>/<name>` link.

    huggingface_hub 2.x downloads into a throw-away temp file, so an interrupted multi-gigabyte
    download would start over; here the partial blob is kept and continued with a Range request.
    """
    from huggingface_hub import get_hf_file_metadata, get_session
    from huggingface_hub.utils import build_hf_headers, hf_raise_for_status

    # The Hub's documented file URL (hf_hub_url formats from a template fixed at import time).
    url = f"{endpoint}/{repo_id}/resolve/{commit}/{quote(name)}"
    headers = build_hf_headers()
    meta = get_hf_file_metadata(url, headers=headers)
    blob = repo_dir / "blobs" / str(meta.etag)
    if blob.exists():
        tracker.add(blob.stat().st_size)
    else:
        blob.parent.mkdir(parents=True, exist_ok=True)
        partial = blob.with_name(blob.name + ".partial")
        start = partial.stat().st_size if partial.exists() else 0
        ranged = {"Range": f"bytes={start}-"} if start else {}
        with get_session().stream("GET", url, headers={**headers, **ranged},
                                  follow_redirects=True) as response:  # fmt: skip
            hf_raise_for_status(response)
            if start and response.status_code != 206:  # the server ignored the range
                start = 0
            tracker.add(start)
            with partial.open("ab" if start else "wb") as handle:
                for chunk in response.iter_bytes(1 << 20):
                    handle.write(chunk)
                    tracker.add(len(chunk))
                    if cancel is not None and cancel.is_set():
                        raise Cancelled("Download cancelled; it will resume where it stopped.")
        if meta.size is not None and partial.stat().st_size != meta.size:
            raise ModelError(f"{name} arrived incomplete; try again to resume the download.")
        os.replace(partial, blob)
    _link(blob, repo_dir / "snapshots" / commit / name)


def _link(blob: Path, pointer: Path) -> None:
    """A relative symlink as huggingface_hub makes it; a copy where symlinks are not allowed."""
    if pointer.exists():
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
