"""Generating on ComfyUI servers through their own HTTP + WebSocket API (no Qt, no torch).

`RemoteEngine.run(request, on_step, cancel)` has the local Engine's interface: the server runs
the model, Brushwork does the rest (inpaint paste-back, seam repair, metadata, writing files).
"""

from .backend import RemoteEngine, ServerStatus
from .client import ComfyClient, ServerInfo, Timeouts
from .errors import RemoteError, ServerDown
from .graph import build_graph, comfy_sampler

__all__ = [
    "ComfyClient",
    "RemoteEngine",
    "RemoteError",
    "ServerDown",
    "ServerInfo",
    "ServerStatus",
    "Timeouts",
    "build_graph",
    "comfy_sampler",
]
