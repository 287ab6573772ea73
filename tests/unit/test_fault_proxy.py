"""The fault proxy of the outage tests (tests/support/fault_proxy.py), against a tiny
upstream that counts what it was asked: each mode forwards, or not, and answers as its
outside-system failure would."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.support.fault_proxy import FaultProxy


@dataclass
class Upstream:
    server: TestServer
    seen: list[tuple[str, str, bytes, str | None]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return str(self.server.make_url("/api/"))


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    app = web.Application()
    up = Upstream(TestServer(app))

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        up.seen.append((request.method, request.path_qs, body, request.headers.get("X-Trace")))
        up.arrived.set()
        # Long enough that half of it is clearly not all of it.
        return web.json_response(
            {"ok": True, "echo": body.decode(), "pad": "x" * 2000},
            status=201,
            headers={"X-Upstream": "yes"},
        )

    app.router.add_route("*", "/{tail:.*}", handle)
    await up.server.start_server()
    try:
        yield up
    finally:
        await up.server.close()


@pytest.fixture
async def proxy(upstream: Upstream) -> AsyncIterator[FaultProxy]:
    async with FaultProxy(upstream.url) as running:
        yield running


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        yield session


def _through(proxy: FaultProxy, upstream: Upstream, path: str = "chat.postMessage?x=1") -> str:
    return proxy.url_for(upstream.url + path)


async def test_url_for_keeps_the_path_and_swaps_the_origin(
    proxy: FaultProxy, upstream: Upstream
) -> None:
    url = _through(proxy, upstream)
    assert url == f"{proxy.url}/api/chat.postMessage?x=1"
    with pytest.raises(AssertionError):
        proxy.url_for("http://elsewhere.example/api/")


async def test_healthy_forwards_method_path_headers_and_body(
    proxy: FaultProxy, upstream: Upstream, client: aiohttp.ClientSession
) -> None:
    headers = {"X-Trace": "t-1", "Idempotency-Key": "k-1"}
    async with client.put(_through(proxy, upstream), data=b"hello", headers=headers) as resp:
        assert resp.status == 201 and resp.headers["X-Upstream"] == "yes"
        assert (await resp.json())["echo"] == "hello"
    assert upstream.seen == [("PUT", "/api/chat.postMessage?x=1", b"hello", "t-1")]
    [passage] = proxy.passed
    assert (passage.method, passage.path, passage.mode) == (
        "PUT",
        "/api/chat.postMessage?x=1",
        "healthy",
    )
    assert passage.idempotency_key == "k-1" and passage.body == b"hello"
    assert (passage.forwarded, passage.upstream_status, passage.answered) == (True, 201, 201)


async def test_status_answers_without_forwarding(
    proxy: FaultProxy, upstream: Upstream, client: aiohttp.ClientSession
) -> None:
    await proxy.status(500)
    async with client.post(_through(proxy, upstream), data=b"x") as resp:
        assert resp.status == 500
        assert (await resp.json())["ok"] is False
    assert upstream.seen == []
    assert [(p.forwarded, p.answered) for p in proxy.passed] == [(False, 500)]


async def test_rate_limited_is_a_429_with_retry_after_not_forwarded(
    proxy: FaultProxy, upstream: Upstream, client: aiohttp.ClientSession
) -> None:
    await proxy.rate_limited(120)
    async with client.post(_through(proxy, upstream)) as resp:
        assert resp.status == 429 and resp.headers["Retry-After"] == "120"
    assert upstream.seen == [] and proxy.during("rate_limited")[0].answered == 429


async def test_slow_does_the_work_but_answers_after_the_clients_timeout(
    proxy: FaultProxy, upstream: Upstream, client: aiohttp.ClientSession
) -> None:
    await proxy.slow(0.3)
    with pytest.raises(asyncio.TimeoutError):
        async with client.post(
            _through(proxy, upstream), data=b"late", timeout=aiohttp.ClientTimeout(total=0.1)
        ):
            pass
    assert [s[2] for s in upstream.seen] == [b"late"]  # the stand-in did it
    [passage] = proxy.passed
    assert passage.forwarded and passage.upstream_status == 201
    # A patient client does get the answer.
    async with client.post(_through(proxy, upstream), data=b"patient") as resp:
        assert resp.status == 201


async def test_reset_after_forwarding_breaks_the_answer_midway(
    proxy: FaultProxy, upstream: Upstream, client: aiohttp.ClientSession
) -> None:
    await proxy.reset_after_forwarding()
    with pytest.raises(aiohttp.ClientError):
        async with client.post(_through(proxy, upstream), data=b"done") as resp:
            assert resp.status == 201  # the headers came
            await resp.read()
    assert [s[2] for s in upstream.seen] == [b"done"]
    [passage] = proxy.passed
    assert passage.forwarded and passage.answered is None


async def test_down_refuses_connections_until_healthy_on_the_same_url(
    proxy: FaultProxy, upstream: Upstream, client: aiohttp.ClientSession
) -> None:
    url = _through(proxy, upstream)
    async with client.get(url) as resp:  # a keep-alive connection that must not survive
        assert resp.status == 201
    await proxy.down()
    await asyncio.sleep(0)  # let the closed connection's end reach the client
    with pytest.raises(aiohttp.ClientConnectionError):
        async with client.get(url):
            pass
    async with aiohttp.ClientSession() as fresh:
        with pytest.raises(aiohttp.ClientConnectorError):  # refused, not reset
            async with fresh.get(url):
                pass
    assert len(upstream.seen) == 1 and len(proxy.passed) == 1

    await proxy.healthy()
    async with client.get(url) as resp:
        assert resp.status == 201
    assert len(upstream.seen) == 2


async def test_stop_cancels_answers_still_waiting(upstream: Upstream) -> None:
    proxy = await FaultProxy(upstream.url).start()
    await proxy.slow(30)
    async with aiohttp.ClientSession() as session:
        request = asyncio.ensure_future(session.get(_through(proxy, upstream)))
        await asyncio.wait_for(upstream.arrived.wait(), 5)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await proxy.stop()
        assert loop.time() - started < 5
        with pytest.raises(aiohttp.ClientError):
            await request
