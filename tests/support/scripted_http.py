"""A real local aiohttp server whose responses each HttpClient test scripts, and fakes.

Each test module wraps :func:`running_server` and :func:`client_factory` in its own
fixtures (``server``, ``sleep``, ``clock``, ``make_client``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from integrations.http import HttpClient


@dataclass
class Reply:
    status: int = 200
    body: str = "ok"
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False  # await an Event that is never set


@dataclass
class Hit:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


class ScriptedServer:
    """Answers requests with ``script`` in order; the last reply repeats."""

    def __init__(self) -> None:
        self.script: list[Reply] = [Reply()]
        self.hits: list[Hit] = []
        self.never = asyncio.Event()
        self.arrived = asyncio.Condition()
        self.base_url = ""
        self.host = ""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self.server = TestServer(app)

    def play(self, *replies: Reply) -> None:
        self.script = list(replies)

    async def wait_for_hits(self, count: int) -> None:
        async with self.arrived:
            await asyncio.wait_for(self.arrived.wait_for(lambda: len(self.hits) >= count), 5)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.hits.append(
            Hit(
                request.method,
                request.path,
                dict(request.query),
                dict(request.headers),
                await request.read(),
            )
        )
        async with self.arrived:
            self.arrived.notify_all()
        reply = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if reply.hang:
            await self.never.wait()
        return web.Response(status=reply.status, text=reply.body, headers=reply.headers)


class RecordingSleep:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@asynccontextmanager
async def running_server() -> AsyncIterator[ScriptedServer]:
    srv = ScriptedServer()
    await srv.server.start_server()
    srv.host = f"127.0.0.1:{srv.server.port}"
    srv.base_url = f"http://{srv.host}"
    yield srv
    srv.never.set()
    await srv.server.close()


MakeClient = Callable[..., Awaitable[HttpClient]]


@asynccontextmanager
async def client_factory(sleep: RecordingSleep, clock: FakeMonotonic) -> AsyncIterator[MakeClient]:
    """``make(**kwargs)`` starts an HttpClient on the fake sleep and clock; all closed at exit."""
    clients: list[HttpClient] = []

    async def make(**kwargs: Any) -> HttpClient:
        kwargs.setdefault("sleep", sleep)
        kwargs.setdefault("monotonic", clock)
        client = HttpClient(**kwargs)
        await client.start()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()
