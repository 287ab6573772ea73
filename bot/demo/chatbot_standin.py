"""A stand-in for the customer-facing chatbot: receives deskhand's signed callbacks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from integrations.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify


@dataclass(frozen=True)
class Callback:
    body: dict[str, Any]
    idempotency_key: str | None
    signature_ok: bool


class ChatbotStandIn:
    """Records every callback; `fail_next(n)` answers 503 n times; duplicates (same
    Idempotency-Key) are recorded in `received` but not in `callbacks`."""

    def __init__(self, *, secret: str, now: Callable[[], float]) -> None:
        self._secret = secret
        self._now = now
        self.received: list[Callback] = []
        self.callbacks: list[Callback] = []
        self._seen: set[str] = set()
        self._failures = 0
        self._runner: web.AppRunner | None = None
        self.url = ""

    def fail_next(self, count: int = 1) -> None:
        self._failures = count

    async def start(self, host: str = "127.0.0.1") -> str:
        app = web.Application()
        app.router.add_post("/callbacks", self._receive)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://{host}:{port}/callbacks"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _receive(self, request: web.Request) -> web.Response:
        raw = await request.read()
        ok = verify(
            self._secret,
            request.headers.get(TIMESTAMP_HEADER),
            request.headers.get(SIGNATURE_HEADER),
            raw,
            now=self._now(),
        )
        callback = Callback(json.loads(raw), request.headers.get("Idempotency-Key"), ok)
        self.received.append(callback)
        if self._failures > 0:
            self._failures -= 1
            return web.json_response({"error": "temporarily down"}, status=503)
        if not ok:
            return web.json_response({"error": "bad signature"}, status=401)
        key = callback.idempotency_key or ""
        if key not in self._seen:
            self._seen.add(key)
            self.callbacks.append(callback)
        return web.json_response({"ok": True})

    def of_type(self, kind: str, **match: Any) -> list[dict[str, Any]]:
        return [
            c.body
            for c in self.callbacks
            if c.body.get("type") == kind and all(c.body.get(k) == v for k, v in match.items())
        ]

    async def wait_for(self, predicate: Callable[[], bool], within: float = 5.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not predicate():
            if loop.time() > deadline:
                raise AssertionError(f"chatbot stand-in: condition not met in {within}s")
            await asyncio.sleep(0.01)
