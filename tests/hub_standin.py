"""A local stand-in for the Hugging Face Hub's file API: model info and `resolve` downloads.

Serves folders as repositories over HTTP on 127.0.0.1 so download code is tested for real:
HEAD metadata headers, streamed GETs, and `Range` requests (resume). Optional throttling lets a
test cancel in the middle of a file.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

COMMIT = "a" * 40


class HubStandIn:
    def __init__(self, repos: dict[str, Path], chunk: int = 65536, delay: float = 0.0) -> None:
        self.repos = repos
        self.chunk, self.delay = chunk, delay
        self.requests: list[tuple[str, str, str | None]] = []  # method, path, Range header
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
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def _file(self, repo: str, name: str) -> Path | None:
        root = self.repos.get(repo)
        path = (root / name) if root else None
        return path if path is not None and path.is_file() else None

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
                elif "/resolve/" in path:
                    repo, rest = path.strip("/").split("/resolve/", 1)
                    self._resolve(repo, rest.split("/", 1)[1], body)
                else:
                    self.send_error(404)

            def _info(self, repo: str) -> None:
                root = hub.repos.get(repo)
                if root is None:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "RepoNotFound")
                    self.end_headers()
                    return
                files = sorted(p for p in root.rglob("*") if p.is_file())
                data = {"id": repo, "sha": COMMIT, "siblings": [
                    {"rfilename": p.relative_to(root).as_posix(), "size": p.stat().st_size}
                    for p in files]}  # fmt: skip
                payload = json.dumps(data).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _resolve(self, repo: str, name: str, body: bool) -> None:
                file = hub._file(repo, name)
                if file is None:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.end_headers()
                    return
                data = file.read_bytes()
                start = 0
                ranged = self.headers.get("Range")
                if ranged and ranged.startswith("bytes="):
                    start = int(ranged[len("bytes=") :].split("-")[0])
                self.send_response(206 if start else 200)
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("ETag", '"' + hashlib.sha256(data).hexdigest() + '"')
                self.send_header("Content-Length", str(len(data) - start))
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.end_headers()
                if not body:
                    return
                try:
                    for offset in range(start, len(data), hub.chunk):
                        self.wfile.write(data[offset : offset + hub.chunk])
                        self.wfile.flush()
                        time.sleep(hub.delay)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client cancelled

        return Handler
