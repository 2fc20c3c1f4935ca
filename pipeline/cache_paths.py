"""Where a Hub download may write, checked: every server-given value that becomes a path.

The Hugging Face cache layout is `models--<org>--<name>/{blobs/<etag>, snapshots/<commit>/<file>,
refs/main}`. The commit id, the ETags and the file names come from the server, so a hostile or
compromised one (HF_ENDPOINT, or plain http with someone in the middle) could name
`../../.local/lib/python3.11/site-packages/evil.pth` and have it run at the next Python start.
Here each value is checked for its shape, and each path for staying inside the repo's folder,
before anything is created.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelError

# A git object id (sha1, 40 hex) is the Hub's ETag for small files; LFS files use their sha256.
_ETAG = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_DRIVE = re.compile(r"[A-Za-z]:")  # a Windows drive prefix (C:), matched at the start only
MAX_NAME = 1_000  # characters: the Hub's own paths are far shorter


def checked_commit(value: object) -> str:
    """The commit id, if it is the 40 hex digits of a git commit."""
    from huggingface_hub.file_download import REGEX_COMMIT_HASH

    if not isinstance(value, str) or not REGEX_COMMIT_HASH.fullmatch(value):
        raise ModelError(f"The server sent an invalid commit id {value!r}; nothing was written.")
    return value


def checked_etag(value: object, name: str) -> str:
    """The file's ETag (the blob's name in the cache), if it is a 40- or 64-digit hex hash."""
    if not isinstance(value, str) or not _ETAG.fullmatch(value):
        raise ModelError(
            f"The server sent an invalid ETag {value!r} for {name!r}; nothing was written."
        )
    return value


def checked_name(name: object) -> str:
    """A repository file name: relative, `/`-separated, no `..`, `.` or empty parts."""
    bad = (
        not isinstance(name, str)
        or not name
        or len(name) > MAX_NAME
        or name.startswith("/")
        or "\\" in name
        or "\0" in name
        or _DRIVE.match(name) is not None
        or any(part in ("", ".", "..") for part in name.split("/"))
    )
    if bad:
        raise ModelError(f"The server listed an invalid file name {name!r}; nothing was written.")
    return str(name)


def inside(path: Path, folder: Path, value: str) -> Path:
    """`path` if its folder, with every symlink resolved, lies inside `folder` (resolved too).

    The last part is not followed: it is what we create (or an existing HF pointer, which may
    link into a shared blob store elsewhere by design).
    """
    parent = path.parent.resolve()
    if not parent.is_relative_to(folder.resolve()):
        raise ModelError(f"{value!r} would be written outside the model's cache folder {folder}.")
    return parent / path.name


@dataclass(frozen=True)
class CachePaths:
    """The checked paths of one repo at one commit in the HF cache."""

    repo_dir: Path
    commit: str

    @property
    def snapshot(self) -> Path:
        return self.repo_dir / "snapshots" / self.commit  # the commit is checked hex

    @property
    def ref(self) -> Path:
        return self.repo_dir / "refs" / "main"

    def pointer(self, name: str) -> Path:
        checked_name(name)
        return inside(self.snapshot / name, self.repo_dir, name)

    def blob(self, etag: object, name: str) -> Path:
        return inside(self.repo_dir / "blobs" / checked_etag(etag, name), self.repo_dir, str(etag))


def cache_paths(cache_dir: Path, repo_id: str, commit: object) -> CachePaths:
    """The repo's folder in `cache_dir` (named as huggingface_hub names it) at `commit`."""
    from huggingface_hub.file_download import repo_folder_name

    folder = repo_folder_name(repo_id=repo_id, repo_type="model")
    return CachePaths(Path(os.path.abspath(cache_dir)) / folder, checked_commit(commit))
