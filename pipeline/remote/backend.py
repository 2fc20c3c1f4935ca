"""RemoteEngine: the local Engine's `run(request, on_step, cancel)` on one or more ComfyUI
servers. Jobs go to the reachable server with the shortest queue; a server that drops during a
job is marked down and the job runs once more elsewhere. Everything after the model (inpaint
paste-back, seam repair, metadata, writing files) is Brushwork's own, as for local runs.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image

from .. import fields
from ..errors import ModelError, RequestError
from ..inpaint import InpaintPlan, finish_inpaint, plan_inpaint
from ..loras import prompt_tags
from ..request import GenerationRequest, Mode
from ..results import GeneratedImage, StepCallback
from ..saving import save_all
from .client import ComfyClient, ServerInfo, Timeouts, normalize_url
from .errors import RemoteError, ServerDown
from .graph import Graph, build_graph, comfy_sampler, needed_nodes
from .job import JobSpec, run_job
from .protocol import encode_png, safe_text

_RETRY_DOWN_AFTER = 30.0  # seconds before a server marked down is asked again


@dataclass(frozen=True)
class ServerStatus:
    """What `servers` prints: `info` when reachable, else `error`."""

    url: str
    info: ServerInfo | None
    error: str | None = None


_LOCAL_ONLY = ("embeddings", "vae", "branch", "controls")
_LORA_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")


class RemoteEngine:
    """Not thread-safe: one caller (the worker thread, the CLI) at a time, like Engine."""

    def __init__(
        self,
        servers: Sequence[str],
        output_dir: Path,
        *,
        token: str | None = None,
        timeouts: Timeouts | None = None,
    ) -> None:
        if not servers:
            raise RequestError("Give at least one server URL.")
        self.servers = list(dict.fromkeys(normalize_url(url) for url in servers))
        self.output_dir = Path(output_dir)
        self.token = token
        self.timeouts = timeouts or Timeouts()
        self.down: dict[str, float] = {}  # url → when it was marked down
        self.infos: dict[str, ServerInfo] = {}  # url → what it said when last checked
        self.last_server: str | None = None
        self.on_server: Callable[[str], None] | None = None  # told where each job runs

    # --- the Engine interface -----------------------------------------------------------
    def run(
        self,
        request: GenerationRequest,
        on_step: StepCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> list[GeneratedImage]:
        # The servers do not say a checkpoint's native size or card: "not given" size, sampler
        # and CFG take the table's fallbacks (fields.resolve).
        request = request.resolved().with_resolved_seed()
        if not request.model:
            raise ModelError("On a ComfyUI server, name the checkpoint to use (its file name).")
        comfy_sampler(request.sampler)  # a sampler without equivalent fails before connecting
        if request.hires_scale:  # the graph has no second pass: the PNG would claim one
            raise RequestError(
                "The hires fix runs on this computer only, not on ComfyUI servers; set its "
                "scale to 0 (off) or generate locally."
            )
        _refuse_local_extras(request)
        plan = plan_inpaint(request) if request.mode is Mode.INPAINT else None
        spec = _spec(request, plan)
        arrays, notes = asyncio.run(self._run_with_failover(spec, on_step, cancel))
        if plan is not None:
            arrays = [finish_inpaint(plan, array) for array in arrays]
        return save_all(self.output_dir, request, arrays, request.model, tuple(notes))

    def statuses(self) -> list[ServerStatus]:
        """Each server's facts (device, models, queue) or why it cannot be used."""
        return asyncio.run(self._statuses())

    # --- choosing a server --------------------------------------------------------------
    async def _run_with_failover(
        self,
        spec: JobSpec,
        on_step: StepCallback | None,
        cancel: threading.Event | None,
    ) -> tuple[list[np.ndarray], list[str]]:
        cancel = cancel or threading.Event()
        tried: list[str] = []
        notes: list[str] = []
        while True:
            url = await self._pick(spec.request, exclude=tried)
            tried.append(url)
            self.last_server = url
            if self.on_server is not None:
                self.on_server(url)
            loras = server_loras(self.infos[url], spec.request)  # its own names for the files
            job_spec = replace(spec, build=_builder(spec.request, loras))
            try:
                async with ComfyClient(url, self.token, self.timeouts) as client:
                    arrays, job_notes = await run_job(client, job_spec, on_step, cancel)
                return arrays, notes + job_notes
            except ServerDown as exc:
                self.down[url] = time.monotonic()
                if len(tried) > 1 or not self._others_up(tried):
                    raise
                notes.append(f"{exc} The job was run again on another server.")

    def _others_up(self, tried: list[str]) -> bool:
        return any(url not in tried and not self._is_down(url) for url in self.servers)

    def _is_down(self, url: str) -> bool:
        since = self.down.get(url)
        return since is not None and time.monotonic() - since < _RETRY_DOWN_AFTER

    async def _pick(self, request: GenerationRequest, exclude: list[str]) -> str:
        """The usable server with the shortest queue; servers down are skipped for a while."""
        candidates = [u for u in self.servers if u not in exclude and not self._is_down(u)]
        if not candidates:
            candidates = [u for u in self.servers if u not in exclude]
        results = await asyncio.gather(*(self._check(u, request) for u in candidates))
        usable = [(queue, k, url) for k, (url, queue, _e) in enumerate(results) if queue >= 0]
        if usable:
            return min(usable)[2]
        errors = [error for _u, _q, error in results if error is not None]
        if len(errors) == 1:
            raise errors[0]
        if all(isinstance(e, ServerDown) for e in errors):
            raise ServerDown("No server is reachable: " + " | ".join(map(str, errors)))
        raise RemoteError("No server can run this job: " + " | ".join(map(str, errors)))

    async def _check(
        self, url: str, request: GenerationRequest
    ) -> tuple[str, int, RemoteError | None]:
        """(url, queue length, None) when `url` can run the request, else (url, -1, error)."""
        try:
            async with ComfyClient(url, self.token, self.timeouts) as client:
                info = await client.info()
            self.down.pop(url, None)
            self.infos[url] = info
            check_capability(info, request)
            return url, info.queue_remaining, None
        except ServerDown as exc:
            self.down[url] = time.monotonic()
            return url, -1, exc
        except RemoteError as exc:
            return url, -1, exc

    async def _statuses(self) -> list[ServerStatus]:
        async def one(url: str) -> ServerStatus:
            try:
                async with ComfyClient(url, self.token, self.timeouts) as client:
                    return ServerStatus(url, await client.info())
            except RemoteError as exc:
                return ServerStatus(url, None, str(exc))

        return list(await asyncio.gather(*(one(url) for url in self.servers)))


def check_capability(info: ServerInfo, request: GenerationRequest) -> None:
    """RemoteError naming what the server lacks: a node, the checkpoint, a LoRA, the sampler."""
    loras = server_loras(info, request)
    missing = sorted(set(needed_nodes(loras, request.clip_skip)) - info.nodes)
    if missing:
        raise RemoteError(f"{info.url} lacks the node(s) {', '.join(missing)}; Brushwork needs "
                          "ComfyUI's core nodes.")  # fmt: skip
    if request.model not in info.checkpoints:
        shown = ", ".join(safe_text(name, 120) for name in info.checkpoints[:10]) or "none"
        raise RemoteError(
            f"{info.url} has no checkpoint {request.model!r}; it has: {shown}"
            + (" …" if len(info.checkpoints) > 10 else "")
        )
    sampler, scheduler = comfy_sampler(request.sampler)
    if sampler not in info.samplers or scheduler not in info.schedulers:
        raise RemoteError(f"{info.url} does not offer the sampler {sampler} with the "
                          f"{scheduler} scheduler.")  # fmt: skip


def server_loras(info: ServerInfo, request: GenerationRequest) -> list[tuple[str, float]]:
    """The request's LoRAs, then its prompt's `<lora:NAME:W>` tags (as the local engine reads
    them), as (file name as `info` lists it, weight). A LoRA given as a local path or a bare
    name matches a server file of the same name without folder and extension; RemoteError
    names the first one the server lacks."""
    by_key: dict[str, str] = {}
    for listed in info.loras:
        by_key.setdefault(_lora_key(listed), listed)
    found = []
    for given, weight in (*request.loras, *prompt_tags(request.prompt)):
        name = given if given in info.loras else by_key.get(_lora_key(given))
        if name is None:
            shown = ", ".join(safe_text(n, 120) for n in info.loras[:10]) or "none"
            more = " …" if len(info.loras) > 10 else ""
            raise RemoteError(
                f"LoRA {safe_text(given, 200)!r} is not on server {info.url}; it has: "
                f"{shown}{more}. Put the file in the server's models/loras folder."
            )
        found.append((name, weight))
    return found


def _lora_key(name: str) -> str:
    """A LoRA's file name without folders (either slash) and a LoRA extension, lower-cased."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    for suffix in _LORA_SUFFIXES:
        if base.lower().endswith(suffix):
            return base[: -len(suffix)].lower()
    return base.lower()


def _refuse_local_extras(request: GenerationRequest) -> None:
    """Embeddings and a separate VAE are applied by the local engine only; sent as they are, a
    server would make a different picture without saying so."""
    unused = [
        fields.BY_NAME[name].label
        for name in _LOCAL_ONLY
        if getattr(request, name) != fields.default(name)
    ]
    if unused:
        raise RequestError(
            f"{', '.join(unused)}: not supported on a ComfyUI server yet; generate on this "
            "computer to use them."
        )


def _spec(request: GenerationRequest, plan: InpaintPlan | None) -> JobSpec:
    size = (request.width, request.height)
    upload, region = None, None
    if plan is not None:  # RGBA: LoadImage's MASK output is 1 − alpha
        rgb = np.asarray(plan.model_image().convert("RGB"))
        alpha = 255 - np.asarray(plan.model_mask().convert("L"))
        upload = encode_png(np.dstack([rgb, alpha]))
        region = tuple(plan.box)
    elif request.mode is Mode.IMG2IMG and request.init_image is not None:
        image = Image.fromarray(request.init_image)  # resized to the request size, as locally
        if image.size != size:
            image = image.resize(size, Image.Resampling.LANCZOS)
        upload = encode_png(np.asarray(image))

    return JobSpec(request, _builder(request, []), upload, region)


def _builder(
    request: GenerationRequest, loras: list[tuple[str, float]]
) -> Callable[[str | None], Graph]:
    def build(name: str | None) -> Graph:
        return build_graph(request, request.model or "", name, loras=loras)

    return build
