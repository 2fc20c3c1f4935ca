"""A bearer-token reverse proxy on 127.0.0.1 in front of a real ComfyUI, as hosted ComfyUIs are
deployed (ComfyUI itself has no authentication). HTTP and the WebSocket are both forwarded."""

from __future__ import annotations

import asyncio
import socket
import threading

import aiohttp
from aiohttp import web

_HOP = {"host", "authorization", "content-length", "transfer-encoding", "connection", "upgrade"}


class AuthProxy:
    def __init__(self, upstream: str, token: str) -> None:
        self.upstream, self.token = upstream, token
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="auth-proxy")

    def __enter__(self) -> AuthProxy:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        app = web.Application(client_max_size=64 * 2**20)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app)

        async def start() -> None:
            self._session = aiohttp.ClientSession()
            await self._runner.setup()
            await web.SockSite(self._runner, sock).start()

        self._loop.run_until_complete(start())
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        async def stop() -> None:
            await self._runner.cleanup()
            await self._session.close()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"error": "unauthorized"}, status=401)
        if request.path == "/ws":
            return await self._socket(request)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        async with self._session.request(
            request.method, self.upstream + request.path_qs, headers=headers,
            data=await request.read(), allow_redirects=False,
        ) as reply:  # fmt: skip
            body = await reply.read()
            kept = {k: v for k, v in reply.headers.items() if k.lower() not in _HOP}
            return web.Response(status=reply.status, body=body, headers=kept)

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        client = web.WebSocketResponse(max_msg_size=2**26)
        await client.prepare(request)
        url = "ws" + self.upstream[4:] + request.path_qs
        async with self._session.ws_connect(url, max_msg_size=2**26) as server:

            async def pump(source, sink) -> None:  # type: ignore[no-untyped-def]
                async for msg in source:
                    if msg.type == aiohttp.WSMsgType.TEXT:
                        await sink.send_str(msg.data)
                    elif msg.type == aiohttp.WSMsgType.BINARY:
                        await sink.send_bytes(msg.data)
                await sink.close()

            await asyncio.gather(pump(client, server), pump(server, client))
        return client
