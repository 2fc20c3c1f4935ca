"""A Hub stand-in that lies: path-traversing commit ids, ETags and file names, bodies that stall
or never end. Each attack is one keyword argument."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from tests.hub_standin import COMMIT, HubStandIn


def small_repo(folder: Path) -> Path:
    """Enough of a diffusers repo for the downloader to start: an index and one config."""
    (folder / "unet").mkdir(parents=True)
    (folder / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline"}')
    (folder / "unet" / "config.json").write_text('{"sample_size": 8}')
    return folder


class HostileHub(HubStandIn):
    def __init__(
        self,
        repos: dict[str, Path],
        commit: str = COMMIT,
        etag: str | None = None,
        extra_name: str | None = None,
        stall_after: int | None = None,
        get_size: int | None = None,
        silent_listing: bool = False,
    ) -> None:
        super().__init__(repos)
        self.commit_id, self.fixed_etag, self.extra_name = commit, etag, extra_name
        self.stall_after, self.get_size = stall_after, get_size
        self.silent_listing = silent_listing
        self.sent = 0  # body bytes written to clients

    def before_listing(self) -> None:
        while self.silent_listing and not self.closed.wait(0.05):
            pass  # never answers the model info request

    def commit(self, repo: str) -> str:
        return self.commit_id

    def listing(self, repo: str, root: Path) -> list[dict]:
        extra = [{"rfilename": self.extra_name, "size": 2}] if self.extra_name else []
        return super().listing(repo, root) + extra

    def route(self, path: str) -> tuple[str, str] | None:
        # Answer for any path ending in a listed name: the client may have normalised `../`.
        for repo, root in self.repos.items():
            for entry in self.listing(repo, root):
                if path.endswith("/" + entry["rfilename"].lstrip("/")):
                    return repo, entry["rfilename"]
        return None

    def content(self, repo: str, name: str) -> bytes | None:
        return b"{}" if name == self.extra_name else super().content(repo, name)

    def etag(self, name: str, data: bytes) -> str:
        return self.fixed_etag or super().etag(name, data)

    def announced_size(self, name: str, data: bytes, method: str) -> int:
        return self.get_size if self.get_size and method == "GET" else len(data)

    def body(self, name: str, data: bytes, start: int) -> Iterator[bytes]:
        if self.get_size:  # far more than HEAD announced
            for _ in range(self.get_size >> 20):
                if self.closed.is_set():
                    return
                self.sent += 1 << 20
                yield b"\0" * (1 << 20)
            return
        if self.stall_after is not None:  # a few bytes, then silence until the server closes
            piece = data[start : self.stall_after]  # a resumed request gets nothing at all
            self.sent += len(piece)
            yield piece
            while not self.closed.wait(0.05):
                pass
            return
        self.sent += len(data) - start
        yield from super().body(name, data, start)
