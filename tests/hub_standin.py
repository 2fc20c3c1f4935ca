"""A local stand-in for the Hugging Face Hub's file API: model info and `resolve` downloads.

Serves folders as repositories over HTTP on 127.0.0.1 so download code is tested for real:
HEAD metadata headers, streamed GETs, and `Range` requests (resume). Optional throttling lets a
test cancel in the middle of a file. What it sends is decided by overridable methods (`commit`,
`listing`, `etag`, `body`) so tests/security can play a hostile server. It serves only files
inside a repo's folder: a stand-in that allowed `..%2F` could not test that clients refuse it.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

COMMIT = "a" * 40


class HubStandIn:
    def __init__(self, repos: dict[str, Path], chunk: int = 65536, delay: float = 0.0) -> None:
        self.repos = repos
        self.chunk, self.delay = chunk, delay
        self.requests: list[tuple[str, str, str | None]] = []  # method, path, Range header
        self.closed = threading.Event()
        handler = self._handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="hub-standin")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> HubStandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.closed.set()  # ends any body a hostile subclass keeps open
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def _file(self, repo: str, name: str) -> Path | None:
        root = self.repos.get(repo)
        if root is None:
            return None
        path = (root / name).resolve()
        inside = path.is_relative_to(root.resolve())
        return path if inside and path.is_file() else None

    # --- what the server says (a hostile subclass overrides these) ---------------------------

    def content(self, repo: str, name: str) -> bytes | None:
        file = self._file(repo, name)
        return None if file is None else file.read_bytes()

    def commit(self, repo: str) -> str:
        return COMMIT

    def before_listing(self) -> None:
        """Called before the repo listing is sent (a hostile subclass may stall here)."""

    def listing(self, repo: str, root: Path) -> list[dict]:
        files = sorted(p for p in root.rglob("*") if p.is_file())
        return [{"rfilename": p.relative_to(root).as_posix(), "size": p.stat().st_size}
                for p in files]  # fmt: skip

    def etag(self, name: str, data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    def announced_size(self, name: str, data: bytes, method: str) -> int:
        return len(data)

    def route(self, path: str) -> tuple[str, str] | None:
        """(repo, file name) of a `/<repo>/resolve/<revision>/<name>` path."""
        if "/resolve/" not in path:
            return None
        repo, rest = path.strip("/").split("/resolve/", 1)
        return repo, rest.split("/", 1)[-1]

    def body(self, name: str, data: bytes, start: int) -> Iterator[bytes]:
        for offset in range(start, len(data), self.chunk):
            yield data[offset : offset + self.chunk]
            time.sleep(self.delay)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self._serve(body=True)

            def do_HEAD(self) -> None:
                self._serve(body=False)

            def _serve(self, body: bool) -> None:
                path = unquote(urlparse(self.path).path)
                hub.requests.append((self.command, path, self.headers.get("Range")))
                if path.startswith("/api/models/"):
                    self._info(path[len("/api/models/") :].split("/revision/")[0])
                elif (found := hub.route(path)) is not None:
                    self._resolve(*found, body)
                else:
                    self.send_error(404)

            def _info(self, repo: str) -> None:
                root = hub.repos.get(repo)
                if root is None:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "RepoNotFound")
                    self.end_headers()
                    return
                hub.before_listing()
                siblings = hub.listing(repo, root)
                data = {"id": repo, "sha": hub.commit(repo), "siblings": siblings}
                payload = json.dumps(data).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _resolve(self, repo: str, name: str, body: bool) -> None:
                data = hub.content(repo, name)
                if data is None:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.end_headers()
                    return
                start = 0
                ranged = self.headers.get("Range")
                if ranged and ranged.startswith("bytes="):
                    start = int(ranged[len("bytes=") :].split("-")[0])
                self.send_response(206 if start else 200)
                self.send_header("X-Repo-Commit", hub.commit(repo))
                self.send_header("ETag", '"' + hub.etag(name, data) + '"')
                size = hub.announced_size(name, data, self.command)
                self.send_header("Content-Length", str(size - start))
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.end_headers()
                if not body:
                    return
                try:
                    for piece in hub.body(name, data, start):
                        self.wfile.write(piece)
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client cancelled

        return Handler
