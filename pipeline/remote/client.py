"""One ComfyUI server over HTTP: server facts, uploads, submitting, results, cancelling.

Every request has a time limit, follows no redirect (a redirect could send the token and the
images to another host), and reads at most a fixed number of bytes. Connection failures and
time-outs raise ServerDown (another server may take the job); refusals raise RemoteError.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from ..errors import RequestError
from .errors import RemoteError, ServerDown
from .protocol import FEATURE_FLAGS, safe_text

MAX_JSON_BYTES = 64 * 2**20  # /object_info of a server with many custom nodes is a few MB
MAX_IMAGE_BYTES = 256 * 2**20
MAX_FRAME_BYTES = 32 * 2**20  # a preview is far smaller; larger frames close the socket


@dataclass(frozen=True)
class Timeouts:
    """Seconds. `idle`: longest wait for any message while a job is queued or running (a large
    model loading sends none). `reconnect`: how long to try again after the socket drops."""

    connect: float = 10.0
    request: float = 60.0
    idle: float = 600.0
    reconnect: float = 5.0


@dataclass(frozen=True)
class ServerInfo:
    url: str
    device: str
    comfyui_version: str | None
    checkpoints: tuple[str, ...]
    loras: tuple[str, ...]
    samplers: tuple[str, ...]
    schedulers: tuple[str, ...]
    nodes: frozenset[str] = field(repr=False)
    queue_remaining: int


def normalize_url(url: str) -> str:
    """`http(s)://host[:port][/path]` without a trailing slash; RequestError otherwise."""
    text = url.strip() if isinstance(url, str) else ""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RequestError(
            f"A server URL must look like http://host:8188 or https://host (got {url!r})."
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise RequestError(
            f"A server URL takes no query, fragment or user:password@ (got {url!r}); "
            "give a token for authentication."
        )
    try:
        parts.port  # noqa: B018 — raises ValueError for a port out of range
    except ValueError:
        raise RequestError(f"The server URL {url!r} has an invalid port.") from None
    return text.rstrip("/")


class ComfyClient:
    """Use as `async with ComfyClient(url) as client:`; one client per server and job."""

    def __init__(
        self, url: str, token: str | None = None, timeouts: Timeouts | None = None
    ) -> None:
        self.url = normalize_url(url)
        self.token = token or None
        self.timeouts = timeouts or Timeouts()
        self.client_id = uuid.uuid4().hex
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ComfyClient:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        timeout = aiohttp.ClientTimeout(
            total=self.timeouts.request, sock_connect=self.timeouts.connect
        )
        self._session = aiohttp.ClientSession(headers=headers, timeout=timeout)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("ComfyClient used outside `async with`")
        return self._session

    # --- server facts -------------------------------------------------------------------
    async def info(self) -> ServerInfo:
        stats = await self.get_json("/system_stats")
        objects = await self.get_json("/object_info")
        queue = await self.queue_remaining()
        if not isinstance(stats, dict) or not isinstance(objects, dict):
            raise RemoteError(f"{self.url} is not a ComfyUI server (unexpected /system_stats).")
        system = stats.get("system") if isinstance(stats.get("system"), dict) else {}
        version = system.get("comfyui_version")
        return ServerInfo(
            url=self.url,
            device=_device(stats),
            comfyui_version=version if isinstance(version, str) else None,
            checkpoints=_choices(objects, "CheckpointLoaderSimple", "ckpt_name"),
            loras=_choices(objects, "LoraLoader", "lora_name"),
            samplers=_choices(objects, "KSampler", "sampler_name"),
            schedulers=_choices(objects, "KSampler", "scheduler"),
            nodes=frozenset(k for k in objects if isinstance(k, str)),
            queue_remaining=queue,
        )

    async def queue_remaining(self) -> int:
        data = await self.get_json("/prompt")
        try:
            return max(0, int(data["exec_info"]["queue_remaining"]))
        except (KeyError, TypeError, ValueError):
            raise RemoteError(f"{self.url} sent no queue length (GET /prompt).") from None

    # --- jobs ---------------------------------------------------------------------------
    async def upload(self, name: str, png: bytes) -> str:
        """Uploads a PNG as an input image; returns the name LoadImage must use."""
        form = aiohttp.FormData()
        form.add_field("image", png, filename=name, content_type="image/png")
        form.add_field("overwrite", "true")
        data = await self._json_of("POST", "/upload/image", data=form)
        stored = data.get("name") if isinstance(data, dict) else None
        if not isinstance(stored, str) or not stored:
            raise RemoteError(f"{self.url} did not say where it stored the uploaded image.")
        subfolder = data.get("subfolder")
        return f"{subfolder}/{stored}" if isinstance(subfolder, str) and subfolder else stored

    async def submit(self, prompt: dict[str, Any]) -> str:
        body = {"prompt": prompt, "client_id": self.client_id}
        data = await self._json_of("POST", "/prompt", json=body, refusal=_graph_refusal)
        prompt_id = data.get("prompt_id") if isinstance(data, dict) else None
        if not isinstance(prompt_id, str) or not prompt_id:
            raise RemoteError(f"{self.url} accepted the job but sent no prompt_id.")
        return prompt_id

    async def interrupt(self, prompt_id: str) -> None:
        # Newer servers interrupt only this prompt; the 2024 ones ignore the body.
        await self._json_of("POST", "/interrupt", json={"prompt_id": prompt_id}, want_json=False)

    async def delete(self, prompt_id: str) -> None:
        await self._json_of("POST", "/queue", json={"delete": [prompt_id]}, want_json=False)

    async def history(self, prompt_id: str) -> dict[str, Any] | None:
        data = await self.get_json(f"/history/{prompt_id}")
        entry = data.get(prompt_id) if isinstance(data, dict) else None
        return entry if isinstance(entry, dict) else None

    async def queued(self, prompt_id: str) -> bool:
        """Whether the job is still running or waiting on the server (GET /queue)."""
        data = await self.get_json("/queue")
        if not isinstance(data, dict):
            return False
        for key in ("queue_running", "queue_pending"):
            for item in data.get(key) or []:
                if isinstance(item, list) and len(item) > 1 and item[1] == prompt_id:
                    return True
        return False

    async def view(self, image: dict[str, Any]) -> bytes:
        params = {k: image.get(k) for k in ("filename", "subfolder", "type")}
        if not all(isinstance(v, str) for v in params.values()) or not params["filename"]:
            raise RemoteError(f"{self.url} listed a result image without a file name.")
        return await self._body_of("GET", "/view", MAX_IMAGE_BYTES, params=params)

    async def open_socket(self) -> aiohttp.ClientWebSocketResponse:
        """The job's event socket; announces that previews may carry metadata (event 4)."""
        ws_url = "ws" + self.url[4:] + f"/ws?clientId={self.client_id}"
        try:
            ws = await self.session.ws_connect(
                ws_url,
                max_msg_size=MAX_FRAME_BYTES,
                autoping=True,
                heartbeat=30.0,
                timeout=aiohttp.ClientWSTimeout(ws_close=self.timeouts.connect),
            )
        except aiohttp.WSServerHandshakeError as exc:
            raise self._status_error(exc.status, "GET /ws", exc.headers) from None
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise self._unreachable(exc) from None
        await ws.send_str(json.dumps(FEATURE_FLAGS))
        return ws

    # --- HTTP plumbing ------------------------------------------------------------------
    async def get_json(self, path: str) -> Any:
        return await self._json_of("GET", path)

    async def _json_of(
        self, method: str, path: str, *, want_json: bool = True, refusal: Any = None, **kw: Any
    ) -> Any:
        body = await self._body_of(method, path, MAX_JSON_BYTES, refusal=refusal, **kw)
        if not want_json:
            return None
        try:
            return json.loads(body)
        except ValueError:
            raise RemoteError(
                f"{self.url} answered {method} {path} with something other than JSON; is it a "
                "ComfyUI server?"
            ) from None

    async def _body_of(
        self, method: str, path: str, limit: int, *, refusal: Any = None, **kw: Any
    ) -> bytes:
        try:
            async with self.session.request(
                method, self.url + path, allow_redirects=False, **kw
            ) as response:
                if response.status >= 300:
                    body = await self._read_all(response, MAX_JSON_BYTES, f"{method} {path}")
                    if refusal is not None and response.status == 400:
                        raise RemoteError(refusal(self.url, body))
                    raise self._status_error(response.status, f"{method} {path}", response.headers)
                if (response.content_length or 0) > limit:
                    raise RemoteError(f"{self.url} sent {response.content_length} bytes for "
                                      f"{method} {path}; the limit is {limit}.")  # fmt: skip
                return await self._read_all(response, limit, f"{method} {path}")
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise self._unreachable(exc) from None

    async def _read_all(self, response: aiohttp.ClientResponse, limit: int, what: str) -> bytes:
        chunks, size = [], 0
        async for chunk in response.content.iter_chunked(2**16):
            size += len(chunk)
            if size > limit:
                raise RemoteError(f"{self.url} sent over {limit} bytes for {what}; refused.")
            chunks.append(chunk)
        return b"".join(chunks)

    def _status_error(self, status: int, what: str, headers: Any) -> RemoteError:
        if 300 <= status < 400:
            target = (headers or {}).get("Location", "?")
            return RemoteError(
                f"{self.url} redirected {what} to {safe_text(target, 200)}; Brushwork follows no "
                "redirects (they could send the token and images elsewhere). Use the final address."
            )
        if status in (401, 403):
            given = "refused the token" if self.token else "needs a token"
            return RemoteError(f"{self.url} {given} (HTTP {status} for {what}).")
        if status == 404:
            return RemoteError(f"{self.url} has no {what} (HTTP 404): is it a ComfyUI server?")
        if status >= 500:
            return ServerDown(f"{self.url} failed {what} (HTTP {status}).")
        return RemoteError(f"{self.url} refused {what} (HTTP {status}).")

    def _unreachable(self, exc: BaseException) -> ServerDown:
        if isinstance(exc, asyncio.TimeoutError):
            return ServerDown(
                f"{self.url} did not answer within {self.timeouts.request:g} s (connect "
                f"{self.timeouts.connect:g} s)."
            )
        reason = str(exc) or type(exc).__name__
        return ServerDown(f"Cannot reach {self.url}: {reason}")


def _device(stats: dict[str, Any]) -> str:
    devices = stats.get("devices")
    if not isinstance(devices, list) or not devices or not isinstance(devices[0], dict):
        return "unknown device"
    first = devices[0]
    name = str(first.get("name") or first.get("type") or "unknown device")
    vram = first.get("vram_total")
    if isinstance(vram, (int, float)) and vram > 0 and first.get("type") != "cpu":
        return f"{name}, {vram / 2**30:.1f} GiB"
    return name


def _choices(objects: dict[str, Any], node: str, field_name: str) -> tuple[str, ...]:
    """The options of a combo input in /object_info (old form [[…]], new ["COMBO", {options}])."""
    try:
        spec = objects[node]["input"]["required"][field_name]
    except (KeyError, TypeError):
        return ()
    options: Any = None
    if isinstance(spec, list) and spec:
        options = spec[0]
        if options == "COMBO" and len(spec) > 1 and isinstance(spec[1], dict):
            options = spec[1].get("options")
    if not isinstance(options, list):
        return ()
    return tuple(o for o in options if isinstance(o, str))


def _graph_refusal(url: str, body: bytes) -> str:
    """HTTP 400 from POST /prompt: ComfyUI's `error` and `node_errors`, in one line."""
    try:
        data = json.loads(body)
    except ValueError:
        return f"{url} refused the job (HTTP 400)."
    parts = []
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        parts.append(safe_text(error.get("message") or error.get("type") or "invalid graph"))
    nodes = data.get("node_errors") if isinstance(data, dict) else None
    if isinstance(nodes, dict):
        for node_id, node in list(nodes.items())[:5]:
            if not isinstance(node, dict):
                continue
            kind = safe_text(node.get("class_type", "?"), 80)
            for err in (node.get("errors") or [])[:3]:
                if isinstance(err, dict):
                    text = safe_text(err.get("details") or err.get("message") or "error")
                    parts.append(f"node {safe_text(node_id, 20)} ({kind}): {text}")
    detail = "; ".join(parts) or "invalid graph"
    return f"{url} refused the job: {detail}"[:1000]
