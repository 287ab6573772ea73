"""A local HTTP fault proxy: it sits between deskhand and ONE stand-in and breaks the link
in the ways outside systems break, without teaching each stand-in every failure.

Point the bot's URL setting for a system at ``proxy.url_for(standin_url)`` (same path, the
proxy's origin); the proxy forwards each request to the stand-in's origin unchanged.
Modes, switched at any time (each an ``async`` method, since ``down`` stops listening):

- ``healthy()``: forward and answer what the stand-in answered.
- ``down()``: refuse connections (the port stops listening, open keep-alive connections are
  closed); ``healthy()`` or any other mode listens again on the same port.
- ``status(code)``: answer ``code`` without forwarding (the system failed before working).
- ``rate_limited(retry_after)``: 429 with ``Retry-After``, not forwarded.
- ``slow(seconds)``: forward (the stand-in does the work), then answer ``seconds`` later:
  longer than the client's timeout, so the client gives up on work that was done.
- ``reset_after_forwarding()``: forward, then send the answer's headers and part of its
  body and abort the connection (a reset mid-response, after the work).

``passed`` records every request that reached the proxy, in arrival order (a refused
connection never does).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Literal

import aiohttp
from aiohttp import web
from yarl import URL

__all__ = ["FaultProxy", "Mode", "Passage"]

Mode = Literal["healthy", "down", "status", "rate_limited", "slow", "reset_after_forwarding"]

# Hop-by-hop headers (RFC 9110 7.6.1) and those the proxy recomputes for what it sends on.
_DROP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "content-encoding",  # the forwarding client decompresses what it reads
        "accept-encoding",  # so the stand-in's answer comes uncompressed
    }
)


@dataclass
class Passage:
    """One request that reached the proxy, and what became of it."""

    method: str
    path: str  # path and query, as sent
    mode: Mode
    idempotency_key: str | None
    body: bytes
    forwarded: bool = False
    upstream_status: int | None = None  # what the stand-in answered, if forwarded
    answered: int | None = None  # the status the client got in full; None: it got no answer


class FaultProxy:
    def __init__(self, target: str, *, host: str = "127.0.0.1") -> None:
        """``target``: the stand-in's URL; only its origin is used."""
        origin = URL(target).origin()
        self.target = str(origin)
        self.passed: list[Passage] = []
        self.mode: Mode = "healthy"
        self._host = host
        self._port = 0
        self._status = 500
        self._retry_after = 0.0
        self._delay = 0.0
        self._runner: web.AppRunner | None = None
        self._server: asyncio.AbstractServer | None = None
        self._client: aiohttp.ClientSession | None = None
        self._handlers: set[asyncio.Task[object]] = set()

    @property
    def url(self) -> str:
        """The proxy's origin, ``http://127.0.0.1:PORT``."""
        return f"http://{self._host}:{self._port}"

    def url_for(self, standin_url: str) -> str:
        """``standin_url`` with the proxy's origin: what the bot's setting should say."""
        original = URL(standin_url)
        assert str(original.origin()) == self.target, f"{standin_url} is not {self.target}"
        return str(URL(self.url).with_path(original.path).with_query(original.query))

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> FaultProxy:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # Handlers left sleeping in slow mode are cancelled by stop(): no grace period.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        # No total timeout: a slow stand-in is the proxy's client's problem, not the proxy's.
        self._client = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=5), auto_decompress=True
        )
        await self._listen()
        return self

    async def stop(self) -> None:
        self._close_listener()
        for task in list(self._handlers):
            task.cancel()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()

    async def __aenter__(self) -> FaultProxy:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _listen(self) -> None:
        assert self._runner is not None and self._runner.server is not None
        if self._server is not None:
            return
        loop = asyncio.get_running_loop()
        # The same port again after ``down``: the bot's URL setting does not change.
        self._server = await loop.create_server(
            self._runner.server, self._host, self._port, reuse_address=True
        )
        self._port = self._server.sockets[0].getsockname()[1]

    def _close_listener(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._runner is not None and self._runner.server is not None:
            for handler in list(self._runner.server.connections):
                handler.force_close()  # keep-alive connections go too: nothing gets through

    # -- modes ---------------------------------------------------------------------------

    async def healthy(self) -> None:
        await self._set("healthy")

    async def down(self) -> None:
        self.mode = "down"
        self._close_listener()

    async def status(self, code: int = 500) -> None:
        self._status = code
        await self._set("status")

    async def rate_limited(self, retry_after: float) -> None:
        self._retry_after = retry_after
        await self._set("rate_limited")

    async def slow(self, seconds: float) -> None:
        self._delay = seconds
        await self._set("slow")

    async def reset_after_forwarding(self) -> None:
        await self._set("reset_after_forwarding")

    async def _set(self, mode: Mode) -> None:
        self.mode = mode
        await self._listen()

    # -- records -------------------------------------------------------------------------

    def forwarded(self) -> list[Passage]:
        """Requests the stand-in received through the proxy."""
        return [p for p in self.passed if p.forwarded]

    def during(self, mode: Mode) -> list[Passage]:
        return [p for p in self.passed if p.mode == mode]

    # -- the proxy -----------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            return await self._serve(request)
        finally:
            self._handlers.discard(task)

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        mode = self.mode
        passage = Passage(
            request.method, request.path_qs, mode, request.headers.get("Idempotency-Key"), body
        )
        self.passed.append(passage)
        if mode == "status":
            return _answer(passage, self._status, {})
        if mode == "rate_limited":
            headers = {"Retry-After": f"{self._retry_after:g}"}
            return _answer(passage, 429, headers, error="ratelimited")
        status, headers, payload = await self._forward(request, body)
        passage.forwarded, passage.upstream_status = True, status
        if mode == "slow":
            await asyncio.sleep(self._delay)  # the client has given up by now
        if mode == "reset_after_forwarding":
            return await _reset_mid_response(request, status, headers, payload)
        passage.answered = status
        return web.Response(status=status, headers=headers, body=payload)

    async def _forward(
        self, request: web.Request, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        assert self._client is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROP}
        async with self._client.request(
            request.method,
            f"{self.target}{request.path_qs}",
            headers=headers,
            data=body or None,
            allow_redirects=False,
        ) as upstream:
            payload = await upstream.read()
            kept = {k: v for k, v in upstream.headers.items() if k.lower() not in _DROP}
            return upstream.status, kept, payload


def _answer(
    passage: Passage, status: int, headers: dict[str, str], *, error: str = "internal_error"
) -> web.Response:
    """An injected failure: JSON that Slack's and the vendors' clients all read as one."""
    passage.answered = status
    body = {"ok": False, "error": error, "message": f"fault proxy: injected HTTP {status}"}
    return web.Response(
        status=status, headers=headers, text=json.dumps(body), content_type="application/json"
    )


async def _reset_mid_response(
    request: web.Request, status: int, headers: dict[str, str], payload: bytes
) -> web.StreamResponse:
    response = web.StreamResponse(status=status, headers=headers)
    # Promise the whole body (at least a byte), send headers and half of it, then abort.
    response.content_length = max(len(payload), 1)
    await response.prepare(request)
    await response.write(payload[: len(payload) // 2])
    assert request.transport is not None
    request.transport.abort()
    return response
