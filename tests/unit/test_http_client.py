"""HttpClient against a real local aiohttp server whose responses each test scripts."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from structlog.testing import capture_logs
from yarl import URL

from integrations.circuit import CircuitBreaker
from integrations.errors import (
    CircuitOpen,
    Conflict,
    NotFound,
    RateLimited,
    Rejected,
    Unavailable,
)
from integrations.http import HttpClient, HttpResponse, _log_path, parse_retry_after

SECRET = "xoxb-super-secret-token"


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


@pytest.fixture
async def server() -> AsyncIterator[ScriptedServer]:
    srv = ScriptedServer()
    await srv.server.start_server()
    srv.host = f"127.0.0.1:{srv.server.port}"
    srv.base_url = f"http://{srv.host}"
    yield srv
    srv.never.set()
    await srv.server.close()


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def clock() -> FakeMonotonic:
    return FakeMonotonic()


MakeClient = Callable[..., Awaitable[HttpClient]]


@pytest.fixture
async def make_client(sleep: RecordingSleep, clock: FakeMonotonic) -> AsyncIterator[MakeClient]:
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


async def test_200_passes_through(server: ScriptedServer, make_client: MakeClient) -> None:
    server.play(Reply(200, '{"id": 7, "name": "café"}', {"X-Thing": "1"}))
    client = await make_client(user_agent="deskhand-test")
    resp = await client.request(
        "post",
        f"{server.base_url}/api/items",
        system="demo",
        json={"a": 1},
        params={"q": "x"},
        headers={"Authorization": f"Bearer {SECRET}"},
    )
    assert isinstance(resp, HttpResponse)
    assert resp.status == 200
    assert resp.json() == {"id": 7, "name": "café"}
    assert resp.headers["x-thing"] == "1"  # case-insensitive
    assert "café" in resp.text
    [hit] = server.hits
    assert (hit.method, hit.path, hit.query) == ("POST", "/api/items", {"q": "x"})
    assert hit.body == b'{"a": 1}'
    assert hit.headers["User-Agent"] == "deskhand-test"
    assert hit.headers["Authorization"] == f"Bearer {SECRET}"
    assert "Idempotency-Key" not in hit.headers


async def test_form_data_is_sent(server: ScriptedServer, make_client: MakeClient) -> None:
    client = await make_client()
    await client.request("POST", f"{server.base_url}/f", system="demo", data={"k": "v w"})
    assert server.hits[0].body == b"k=v+w"


async def test_5xx_then_success_retries_with_backoff(
    server: ScriptedServer, make_client: MakeClient, sleep: RecordingSleep
) -> None:
    server.play(Reply(500), Reply(500), Reply(200, "done"))
    client = await make_client(backoff_base=0.2, backoff_max=5.0)
    resp = await client.request("GET", f"{server.base_url}/x", system="demo")
    assert resp.status == 200 and resp.text == "done"
    assert len(server.hits) == 3
    assert len(sleep.waits) == 2
    # equal jitter: attempt n waits in [base*2^(n-1)/2, base*2^(n-1)]
    assert 0.1 <= sleep.waits[0] <= 0.2
    assert 0.2 <= sleep.waits[1] <= 0.4


async def test_backoff_is_capped(
    server: ScriptedServer, make_client: MakeClient, sleep: RecordingSleep
) -> None:
    server.play(Reply(502))
    client = await make_client(max_attempts=6, backoff_base=1.0, backoff_max=2.0)
    with pytest.raises(Unavailable):
        await client.request("GET", f"{server.base_url}/x", system="demo")
    assert len(sleep.waits) == 5
    assert all(w <= 2.0 for w in sleep.waits)


async def test_503_exhausts_attempts(server: ScriptedServer, make_client: MakeClient) -> None:
    server.play(Reply(503, "down"))
    client = await make_client()
    with pytest.raises(Unavailable) as info:
        await client.request("GET", f"{server.base_url}/x", system="jira")
    assert not isinstance(info.value, CircuitOpen)
    assert info.value.system == "jira"
    assert "503" in str(info.value)
    assert len(server.hits) == 3


async def test_connection_refused(make_client: MakeClient, sleep: RecordingSleep) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = await make_client()
    with pytest.raises(Unavailable) as info:
        await client.request("GET", f"http://127.0.0.1:{port}/x", system="demo")
    assert info.value.__cause__ is not None
    assert len(sleep.waits) == 2  # three attempts


async def test_timeout(server: ScriptedServer, make_client: MakeClient) -> None:
    server.play(Reply(hang=True))
    client = await make_client(timeout=0.2, max_attempts=2)
    started = time.monotonic()
    with pytest.raises(Unavailable) as info:
        await client.request("GET", f"{server.base_url}/slow", system="demo")
    assert isinstance(info.value.__cause__, TimeoutError)
    assert len(server.hits) == 2
    assert time.monotonic() - started < 5


async def test_429_retry_after_seconds_is_honoured(
    server: ScriptedServer, make_client: MakeClient, sleep: RecordingSleep
) -> None:
    server.play(Reply(429, headers={"Retry-After": "2"}), Reply(200))
    client = await make_client()
    resp = await client.request("GET", f"{server.base_url}/x", system="demo")
    assert resp.status == 200
    assert sleep.waits == [2.0]
    assert len(server.hits) == 2


async def test_429_retry_after_too_long_raises_at_once(
    server: ScriptedServer, make_client: MakeClient, sleep: RecordingSleep
) -> None:
    server.play(Reply(429, headers={"Retry-After": "120"}), Reply(200))
    client = await make_client(max_retry_after=30.0)
    with pytest.raises(RateLimited) as info:
        await client.request("GET", f"{server.base_url}/x", system="slack")
    assert info.value.retry_after == 120
    assert len(server.hits) == 1
    assert sleep.waits == []


async def test_429_retry_after_http_date(server: ScriptedServer, make_client: MakeClient) -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    server.play(Reply(429, headers={"Retry-After": format_datetime(later, usegmt=True)}))
    client = await make_client()
    with pytest.raises(RateLimited) as info:
        await client.request("GET", f"{server.base_url}/x", system="demo")
    assert info.value.retry_after is not None
    assert 3590 <= info.value.retry_after <= 3600
    assert len(server.hits) == 1


async def test_429_without_retry_after_backs_off_then_raises(
    server: ScriptedServer, make_client: MakeClient, sleep: RecordingSleep
) -> None:
    server.play(Reply(429))
    client = await make_client()
    with pytest.raises(RateLimited) as info:
        await client.request("GET", f"{server.base_url}/x", system="demo")
    assert info.value.retry_after is None
    assert len(server.hits) == 3
    assert len(sleep.waits) == 2


def test_parse_retry_after() -> None:
    now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    assert parse_retry_after(None) is None
    assert parse_retry_after("  7 ") == 7.0
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None
    date = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(date, now=now.timestamp()) == 90.0
    past = format_datetime(now - timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(past, now=now.timestamp()) == 0.0


@pytest.mark.parametrize(
    ("status", "error"),
    [(404, NotFound), (409, Conflict), (422, Rejected), (400, Rejected), (401, Rejected)],
)
async def test_4xx_is_not_retried(
    server: ScriptedServer,
    make_client: MakeClient,
    sleep: RecordingSleep,
    status: int,
    error: type[Rejected],
) -> None:
    server.play(Reply(status, '{"error": "nope"}'), Reply(200))
    client = await make_client()
    with pytest.raises(error) as info:
        await client.request("GET", f"{server.base_url}/thing", system="demo")
    assert type(info.value) is error
    assert info.value.status == status
    assert info.value.body == '{"error": "nope"}'
    assert len(server.hits) == 1
    assert sleep.waits == []


async def test_idempotency_key_is_identical_on_every_attempt(
    server: ScriptedServer, make_client: MakeClient
) -> None:
    server.play(Reply(500), Reply(503), Reply(201))
    client = await make_client()
    resp = await client.request(
        "POST", f"{server.base_url}/tickets", system="demo", json={}, idempotency_key="k-123"
    )
    assert resp.status == 201
    assert [h.headers.get("Idempotency-Key") for h in server.hits] == ["k-123"] * 3


async def test_breaker_opens_half_opens_and_closes(
    server: ScriptedServer, make_client: MakeClient, clock: FakeMonotonic
) -> None:
    client = await make_client(max_attempts=1, failure_threshold=3, reset_after=30.0)
    url = f"{server.base_url}/x"
    server.play(Reply(500))
    for _ in range(3):
        with pytest.raises(Unavailable):
            await client.request("GET", url, system="demo")
    assert client.circuit_states() == {server.host: "open"}

    clock.advance(10)
    with pytest.raises(CircuitOpen) as info:
        await client.request("GET", url, system="demo")
    assert info.value.retry_after == pytest.approx(20.0)
    assert len(server.hits) == 3  # no network call

    clock.advance(20)
    assert client.circuit_states() == {server.host: "half_open"}
    server.play(Reply(200))
    assert (await client.request("GET", url, system="demo")).status == 200
    assert client.circuit_states() == {server.host: "closed"}
    assert len(server.hits) == 4


async def test_half_open_failure_reopens(
    server: ScriptedServer, make_client: MakeClient, clock: FakeMonotonic
) -> None:
    client = await make_client(max_attempts=1, failure_threshold=1, reset_after=5.0)
    url = f"{server.base_url}/x"
    server.play(Reply(503))
    with pytest.raises(Unavailable):
        await client.request("GET", url, system="demo")
    clock.advance(5)
    with pytest.raises(Unavailable) as info:
        await client.request("GET", url, system="demo")  # the trial
    assert not isinstance(info.value, CircuitOpen)
    assert client.circuit_states() == {server.host: "open"}
    with pytest.raises(CircuitOpen):
        await client.request("GET", url, system="demo")
    assert len(server.hits) == 2


async def test_breaker_opening_mid_retry_stops_retries(
    server: ScriptedServer, make_client: MakeClient
) -> None:
    server.play(Reply(503))
    client = await make_client(max_attempts=5, failure_threshold=2)
    with pytest.raises(CircuitOpen):
        await client.request("GET", f"{server.base_url}/x", system="demo")
    assert len(server.hits) == 2


async def test_4xx_and_429_do_not_count_as_failures(
    server: ScriptedServer, make_client: MakeClient
) -> None:
    client = await make_client(max_attempts=1, failure_threshold=2)
    url = f"{server.base_url}/x"
    for reply in (Reply(500), Reply(404), Reply(500), Reply(429), Reply(500)):
        server.play(reply)
        with pytest.raises((Unavailable, Rejected, RateLimited)):
            await client.request("GET", url, system="demo")
    assert client.circuit_states() == {server.host: "closed"}


async def test_half_open_allows_one_trial_and_cancellation_frees_it(
    server: ScriptedServer, make_client: MakeClient, clock: FakeMonotonic
) -> None:
    client = await make_client(max_attempts=1, failure_threshold=1, reset_after=5.0)
    url = f"{server.base_url}/x"
    server.play(Reply(500))
    with pytest.raises(Unavailable):
        await client.request("GET", url, system="demo")
    clock.advance(5)

    server.play(Reply(hang=True))
    trial = asyncio.create_task(client.request("GET", url, system="demo"))
    await server.wait_for_hits(2)
    with pytest.raises(CircuitOpen):  # only one trial at a time
        await client.request("GET", url, system="demo")
    trial.cancel()
    with pytest.raises(asyncio.CancelledError):
        await trial

    server.play(Reply(200))
    assert (await client.request("GET", url, system="demo")).status == 200
    assert client.circuit_states() == {server.host: "closed"}


async def test_breakers_are_per_host(server: ScriptedServer, make_client: MakeClient) -> None:
    client = await make_client(max_attempts=1, failure_threshold=1)
    server.play(Reply(500))
    with pytest.raises(Unavailable):
        await client.request("GET", f"{server.base_url}/x", system="demo")
    server.play(Reply(200))
    other = f"http://localhost:{server.server.port}/x"
    assert (await client.request("GET", other, system="demo")).status == 200
    assert client.circuit_states() == {
        server.host: "open",
        f"localhost:{server.server.port}": "closed",
    }


def test_circuit_breaker_unit() -> None:
    clock = FakeMonotonic()
    breaker = CircuitBreaker(failure_threshold=2, reset_after=10, monotonic=clock)

    def state() -> str:  # a function, so mypy does not narrow the property between asserts
        return breaker.state

    assert state() == "closed" and breaker.acquire() == "call"
    breaker.record_failure()
    breaker.record_success()  # resets the consecutive count
    breaker.record_failure()
    assert state() == "closed"
    breaker.record_failure()
    assert state() == "open" and breaker.acquire() is None
    assert breaker.retry_after == 10
    clock.advance(10)
    assert state() == "half_open"
    assert breaker.acquire() == "trial"
    assert breaker.acquire() is None
    breaker.abandon_trial()
    assert breaker.acquire() == "trial"
    breaker.record_success()
    assert state() == "closed"


async def test_logs_have_fields_and_never_secrets(
    server: ScriptedServer, make_client: MakeClient
) -> None:
    client = await make_client(max_attempts=2)
    with capture_logs() as logs:
        server.play(Reply(500, f"error body {SECRET}"), Reply(200, f"body {SECRET}"))
        await client.request(
            "POST",
            f"{server.base_url}/api/chat?token={SECRET}",
            system="slack",
            json={"token": SECRET},
            params={"key": SECRET},
            headers={"Authorization": f"Bearer {SECRET}", "X-Api-Key": SECRET},
            idempotency_key=SECRET,
        )
        server.play(Reply(422, f"bad {SECRET}"))
        with pytest.raises(Rejected) as info:
            await client.request(
                "GET",
                f"{server.base_url}/api/x?token={SECRET}",
                system="slack",
                headers={"Authorization": f"Bearer {SECRET}"},
            )
    assert SECRET not in repr(logs)
    assert SECRET not in str(info.value)

    events = [entry["event"] for entry in logs]
    assert events == [
        "http.attempt_failed",
        "http.request",
        "http.attempt_failed",
        "http.request_failed",
    ]
    first = logs[0]
    assert first["system"] == "slack"
    assert first["method"] == "POST"
    assert first["host"] == server.host
    assert first["path"] == "/api/chat"
    assert first["status"] == 500
    assert first["attempt"] == 1
    assert isinstance(first["elapsed_ms"], float)
    assert logs[1]["status"] == 200 and logs[1]["attempt"] == 2
    assert logs[3]["status"] == 422 and logs[3]["error"] == "Rejected"


def test_slack_webhook_paths_are_redacted_in_logs() -> None:
    url = URL(f"https://hooks.slack.com/services/T000/B000/{SECRET}?x=1")
    assert _log_path(url) == "/services/[redacted]"
    assert _log_path(URL("https://slack.com/api/chat.postMessage")) == "/api/chat.postMessage"


async def test_request_before_start_and_bad_arguments() -> None:
    client = HttpClient()
    with pytest.raises(RuntimeError):
        await client.request("GET", "http://127.0.0.1/x", system="demo")
    await client.start()
    try:
        with pytest.raises(ValueError, match="absolute http"):
            await client.request("GET", "/relative", system="demo")
        with pytest.raises(ValueError, match="json or data"):
            await client.request("POST", "http://127.0.0.1/x", system="demo", json={}, data="x")
    finally:
        await client.close()


async def test_injected_session_is_not_closed(server: ScriptedServer) -> None:
    async with aiohttp.ClientSession() as session:
        async with HttpClient(session=session) as client:
            assert (await client.request("GET", server.base_url, system="demo")).status == 200
        assert not session.closed


async def test_caller_headers_override_user_agent_case_insensitively(
    server: ScriptedServer, make_client: MakeClient
) -> None:
    client = await make_client()
    await client.request("GET", server.base_url, system="demo", headers={"user-agent": "mine"})
    assert server.hits[0].headers["User-Agent"] == "mine"
    assert list(server.hits[0].headers).count("User-Agent") == 1
