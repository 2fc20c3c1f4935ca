"""Generating on ComfyUI servers: overhead of Brushwork's remote path, preview latency, and
throughput with two servers against one. Needs the test-only ComfyUI venv
(tools/comfyui_testenv.sh); starts its own servers on 127.0.0.1 with the tiny SD 1.5 checkpoint
(tests/remote_real/tiny_sd15.py: 64², one-level UNet, random weights).

  overhead     RemoteEngine.run (server checks, upload-free txt2img, WebSocket progress and
               previews, /history + /view, PNG decode, Brushwork's PNG with metadata) against
               the same graph sent directly (POST /prompt, wait for the end on the socket, fetch
               the PNG bytes); interleaved, new seed per run (ComfyUI caches identical graphs)
  preview      a binary preview frame received by the client → the decoded preview handed to
               on_step (the worker's hand-off to the canvas; through the real window up to
               the canvas paint: bench/remote_preview_gui.py)
  throughput   jobs per minute from two client threads, with one server and with two

Run: python3 bench/remote.py [--runs 5] [--jobs 4] [--steps 4] [--write]
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

import common
from common import LoadTracker, header, parser, report, table

from pipeline.remote import RemoteEngine, Timeouts
from pipeline.remote import job as job_module
from pipeline.remote.graph import build_graph
from pipeline.request import GenerationRequest
from tests.remote_real.comfy_server import VENV, ComfyServer, comfyui_main
from tests.remote_real.tiny_sd15 import NAME, build_tiny_sd15

TITLE = "Remote (ComfyUI)"
TIMEOUTS = Timeouts(request=120, idle=600)


def _request(seed: int, steps: int) -> GenerationRequest:
    return GenerationRequest(prompt=common.PROMPT, seed=seed, width=64, height=64,
                             steps=steps, model=NAME, sampler="euler")  # fmt: skip


async def _direct(url: str, graph: dict) -> bytes:
    """The same graph without Brushwork: submit, wait on the socket, fetch the image."""
    import aiohttp

    client_id = uuid.uuid4().hex
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(f"ws{url[4:]}/ws?clientId={client_id}")
        reply = await session.post(f"{url}/prompt", json={"prompt": graph, "client_id": client_id})
        prompt_id = (await reply.json())["prompt_id"]
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                data = json.loads(msg.data)
                if data["type"] == "executing" and data["data"].get("node") is None:
                    break
        await ws.close()
        while True:
            history = await (await session.get(f"{url}/history/{prompt_id}")).json()
            if prompt_id in history:
                break
            await asyncio.sleep(0.02)
        (output,) = history[prompt_id]["outputs"].values()
        image = output["images"][0]
        return await (await session.get(f"{url}/view", params=image)).read()


def overhead(url: str, runs: int, steps: int, out: Path) -> tuple[float, float, float]:
    engine = RemoteEngine([url], out, timeouts=TIMEOUTS)
    remote, direct = [], []
    for k in range(runs):  # interleaved: load drift hits both alike
        request = _request(1000 + 2 * k, steps)
        started = time.perf_counter()
        engine.run(request)
        remote.append(time.perf_counter() - started)
        graph = build_graph(_request(1001 + 2 * k, steps), NAME).prompt
        started = time.perf_counter()
        asyncio.run(_direct(url, graph))
        direct.append(time.perf_counter() - started)
    r, d = statistics.median(remote), statistics.median(direct)
    return r, d, r / d


def preview_latency(url: str, steps: int, out: Path) -> list[float]:
    received: list[float] = []
    latencies: list[float] = []
    original = job_module._on_frame

    def stamped(frame, state, emit, server):  # type: ignore[no-untyped-def]
        received.append(time.perf_counter())
        original(frame, state, emit, server)

    def on_step(update) -> None:  # type: ignore[no-untyped-def]
        if update.preview is not None:
            latencies.append(time.perf_counter() - received[-1])

    job_module._on_frame = stamped
    try:
        RemoteEngine([url], out, timeouts=TIMEOUTS).run(_request(5, steps * 3), on_step=on_step)
    finally:
        job_module._on_frame = original
    return latencies


def throughput(urls: list[str], jobs: int, steps: int, out: Path) -> float:
    """Jobs per minute from two client threads sharing `urls`."""
    seeds = iter(range(5000, 5000 + 2 * jobs))
    lock = threading.Lock()

    def client() -> None:
        engine = RemoteEngine(urls, out, timeouts=TIMEOUTS)
        for _ in range(jobs // 2):
            with lock:
                seed = next(seeds)
            engine.run(_request(seed, steps))

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return jobs / (time.perf_counter() - started) * 60


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--jobs", type=int, default=4)
    p.add_argument("--steps", type=int, default=4)
    args = p.parse_args()
    if comfyui_main() is None:
        raise SystemExit(f"no ComfyUI venv at {VENV}: run tools/comfyui_testenv.sh first")
    models = VENV / "models"
    build_tiny_sd15(models / "checkpoints" / NAME)
    with tempfile.TemporaryDirectory() as scratch, LoadTracker() as tracker:
        work = Path(scratch)
        servers = [ComfyServer(work / f"s{k}", models).start() for k in range(2)]
        try:
            for server in servers:  # load the model once on each (not part of any figure)
                RemoteEngine([server.url], work / "out").run(_request(1, 1))
            remote, direct, ratio = overhead(servers[0].url, args.runs, args.steps, work / "out")
            latencies = preview_latency(servers[0].url, args.steps, work / "out")
            one = throughput([servers[0].url], args.jobs, args.steps, work / "out")
            two = throughput([s.url for s in servers], args.jobs, args.steps, work / "out")
        finally:
            for server in servers:
                server.stop()
    ms = sorted(x * 1000 for x in latencies)
    rows = [
        ("overhead: remote path, median s", f"{remote:.2f}"),
        ("overhead: same graph direct, median s", f"{direct:.2f}"),
        ("overhead: ratio (target ≤ 1.05)", f"{ratio:.3f}"),
        (f"preview latency, median ms ({len(ms)} frames)", f"{statistics.median(ms):.1f}"),
        ("preview latency, max ms", f"{ms[-1]:.1f}"),
        ("throughput, 1 server, jobs/min", f"{one:.2f}"),
        ("throughput, 2 servers, jobs/min", f"{two:.2f}"),
    ]
    body = (
        f"{header(tracker)}; tiny SD 1.5 checkpoint, 64², euler, {args.steps} steps, "
        f"{args.runs} interleaved runs per path, {args.jobs} jobs per throughput run, "
        "2 client threads; servers with OMP_NUM_THREADS=2\n\n```\n"
        + table(rows, ("measure", "value"))
        + "\n```"
    )
    report(TITLE, body, args.write)


if __name__ == "__main__":
    main()
