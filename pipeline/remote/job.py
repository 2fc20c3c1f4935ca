"""One job on one ComfyUI server: upload, submit, follow its events, fetch its images.

The server's events drive Brushwork's StepUpdates (progress and previews); `cancel` is polled
between frames so a cancel reaches the server within a fraction of a second.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import numpy as np

from ..errors import Cancelled
from ..request import MAX_SIZE, GenerationRequest
from ..results import StepUpdate
from .client import ComfyClient
from .errors import RemoteError, ServerDown
from .graph import Graph
from .protocol import Message, decode_image, parse_binary, parse_text, safe_text

_POLL = 0.05  # seconds between checks of `cancel` while waiting for frames
_CLOSED = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED)


@dataclass
class JobState:
    prompt_id: str
    graph: Graph
    started: bool = False  # the server began running our prompt
    done: bool = False
    item: int = 0  # index of the batch item being sampled
    node: str | None = None  # the node the server said it is executing
    step: int = 0
    total: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class JobSpec:
    request: GenerationRequest
    build: Callable[[str | None], Graph]  # the graph, given the uploaded image's name
    upload: bytes | None  # PNG to upload first (img2img / inpaint)
    region: tuple[int, int, int, int] | None  # where previews belong (inpaint)


async def run_job(
    client: ComfyClient,
    spec: JobSpec,
    on_step: Callable[[StepUpdate], None] | None,
    cancel: threading.Event,
    on_submitted: Callable[[str], None] | None = None,
) -> tuple[list[np.ndarray], list[str]]:
    """The generated images (request size, RGB) and notes; raises Cancelled, RemoteError or
    ServerDown (the last means another server may run the same job)."""
    ws = await client.open_socket()  # before submitting, so no event of the job is missed
    try:
        name = None
        if spec.upload is not None:
            name = await client.upload(f"brushwork-{client.client_id}.png", spec.upload)
        graph = spec.build(name)
        if cancel.is_set():
            raise Cancelled()
        prompt_id = await client.submit(graph.prompt)
        if on_submitted is not None:
            on_submitted(prompt_id)
        state = JobState(prompt_id, graph)
        started = time.perf_counter()

        def emit(preview: np.ndarray | None) -> None:
            if on_step is not None and state.total:
                update = StepUpdate(state.step, state.total, time.perf_counter() - started,
                                    preview, spec.region)  # fmt: skip
                on_step(update)

        ws = await _follow(client, ws, state, emit, cancel)
    finally:
        await ws.close()
    arrays = await _results(client, state, spec.request)
    return arrays, state.notes


async def _follow(
    client: ComfyClient,
    ws: aiohttp.ClientWebSocketResponse,
    state: JobState,
    emit: Callable[[np.ndarray | None], None],
    cancel: threading.Event,
) -> aiohttp.ClientWebSocketResponse:
    """Reads events until the job ends; reconnects once the socket drops. Returns the socket."""
    last_message = time.monotonic()
    while not state.done:
        if cancel.is_set():
            await _cancel(client, state)
        try:
            msg = await ws.receive(timeout=_POLL)
        except asyncio.TimeoutError:
            if time.monotonic() - last_message > client.timeouts.idle:
                raise RemoteError(
                    f"{client.url} sent nothing for {client.timeouts.idle:g} s while running the "
                    "job; it may be stuck. The job was left on the server."
                ) from None
            continue
        last_message = time.monotonic()
        if msg.type == aiohttp.WSMsgType.TEXT:
            _on_message(parse_text(msg.data, client.url), state, emit, client.url)
        elif msg.type == aiohttp.WSMsgType.BINARY:
            _on_frame(msg.data, state, emit, client.url)
        elif msg.type == aiohttp.WSMsgType.ERROR:
            if _too_big(ws, msg):
                raise RemoteError(
                    f"{client.url} sent a WebSocket frame over the size limit; refused. The job "
                    "was stopped."
                )
            ws = await _reconnect(client, ws, state)
        elif msg.type in _CLOSED:
            ws = await _reconnect(client, ws, state)
    return ws


def _on_message(
    message: Message, state: JobState, emit: Callable[[np.ndarray | None], None], url: str
) -> None:
    data, kind = message.data, message.type
    ours = data.get("prompt_id") == state.prompt_id
    if kind == "execution_start" and ours:
        state.started = True
    elif kind == "executing" and ours:
        node = data.get("node")
        if node is None:
            state.done = True  # the 2024 servers' end of a prompt (no execution_success)
        else:
            state.started = True
            state.node = node if isinstance(node, str) else None
    elif kind == "progress" and (ours or ("prompt_id" not in data and state.started)):
        if _on_progress(data, state):
            emit(None)
    elif kind == "execution_success" and ours:
        state.done = True
    elif kind == "execution_error" and ours:
        node = safe_text(data.get("node_type") or data.get("node_id") or "?", 80)
        text = str(data.get("exception_message") or data.get("exception_type") or "error")
        raise RemoteError(f"{url} failed the job in node {node}: {safe_text(text.strip(), 500)}")
    elif kind == "execution_interrupted" and ours:
        raise RemoteError(f"{url} interrupted the job (someone stopped it on the server).")


def _on_progress(data: dict[str, Any], state: JobState) -> bool:
    """Counts a sampler step; False for progress of any other node (a model load, a tiled
    decode), which is not a denoising step."""
    value, maximum = data.get("value"), data.get("max")
    if not isinstance(value, int) or not isinstance(maximum, int) or maximum <= 0:
        return False
    node = data.get("node", state.node)
    if node not in state.graph.samplers:
        return False
    state.item = state.graph.samplers.index(node)
    count = len(state.graph.samplers)
    state.total = maximum * count
    state.step = min(state.total, state.item * maximum + max(0, min(value, maximum)))
    return True


def _on_frame(
    frame: bytes, state: JobState, emit: Callable[[np.ndarray | None], None], url: str
) -> None:
    try:
        preview = parse_binary(frame)
    except ValueError as exc:
        note = f"A preview from {url} was refused: {exc}."
        if note not in state.notes:
            state.notes.append(note)
        return
    if preview is None or not state.started:
        return
    if preview.prompt_id is not None and preview.prompt_id != state.prompt_id:
        return
    emit(preview.image)


def _too_big(ws: aiohttp.ClientWebSocketResponse, msg: aiohttp.WSMessage) -> bool:
    error = msg.data if isinstance(msg.data, BaseException) else ws.exception()
    code = getattr(error, "code", None)
    return code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG or "too big" in str(error).lower()


async def _cancel(client: ComfyClient, state: JobState) -> None:
    """Removes the job from the queue, or stops it if it runs; then reports Cancelled."""
    try:
        await client.delete(state.prompt_id)
        if state.started:
            await client.interrupt(state.prompt_id)
    except RemoteError:
        pass  # a server that cannot be told still must not keep Brushwork waiting
    raise Cancelled()


async def _reconnect(
    client: ComfyClient, ws: aiohttp.ClientWebSocketResponse, state: JobState
) -> aiohttp.ClientWebSocketResponse:
    """The socket dropped: connect again (same client id) and see whether the job lives on."""
    await ws.close()
    deadline = time.monotonic() + client.timeouts.reconnect
    delay = 0.1
    while True:
        try:
            ws = await client.open_socket()
            if await client.history(state.prompt_id) is not None:
                state.done = True
            elif not await client.queued(state.prompt_id):
                raise ServerDown(f"{client.url} lost the job (it restarted?).")
            return ws
        except ServerDown:
            if time.monotonic() + delay > deadline:
                raise ServerDown(f"{client.url} dropped the connection during the job.") from None
        await asyncio.sleep(delay)
        delay = min(delay * 2, 1.0)


async def _results(
    client: ComfyClient, state: JobState, request: GenerationRequest
) -> list[np.ndarray]:
    """The images of the job's SaveImage nodes, in batch order, each checked."""
    entry = await _wait_for_history(client, state.prompt_id)
    outputs = entry.get("outputs") if isinstance(entry.get("outputs"), dict) else {}
    arrays = []
    for k, node in enumerate(state.graph.outputs):
        images = (outputs.get(node) or {}).get("images") if isinstance(outputs, dict) else None
        if not isinstance(images, list) or not images or not isinstance(images[0], dict):
            raise RemoteError(f"{client.url} finished the job but listed no image {k + 1}.")
        data = await client.view(images[0])
        try:
            array = decode_image(data, MAX_SIZE)
        except ValueError as exc:
            raise RemoteError(f"{client.url} sent an unreadable result image: {exc}.") from None
        if array.shape[:2] != (request.height, request.width):
            raise RemoteError(
                f"{client.url} sent a {array.shape[1]}×{array.shape[0]} image for a "
                f"{request.width}×{request.height} request."
            )
        arrays.append(array)
    return arrays


async def _wait_for_history(client: ComfyClient, prompt_id: str) -> dict[str, Any]:
    """History appears just after the last event (the server writes it after sending it)."""
    deadline = time.monotonic() + client.timeouts.request
    while True:
        entry = await client.history(prompt_id)
        if entry is not None:
            return entry
        if time.monotonic() > deadline:
            raise RemoteError(f"{client.url} finished the job but has no history of it.")
        await asyncio.sleep(0.02)
