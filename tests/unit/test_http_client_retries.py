"""HttpClient retries: backoff on 5xx and network errors, 429 and Retry-After, 4xx."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from integrations.errors import CircuitOpen, Conflict, NotFound, RateLimited, Rejected, Unavailable
from integrations.http import parse_retry_after
from tests.support.scripted_http import (
    MakeClient,
    RecordingSleep,
    Reply,
    ScriptedServer,
)


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
