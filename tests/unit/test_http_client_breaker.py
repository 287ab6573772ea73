"""HttpClient's per-host circuit breaker, and CircuitBreaker on its own."""

from __future__ import annotations

import asyncio

import pytest

from integrations.circuit import CircuitBreaker
from integrations.errors import CircuitOpen, RateLimited, Rejected, Unavailable
from tests.support.scripted_http import (
    FakeMonotonic,
    MakeClient,
    Reply,
    ScriptedServer,
)


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
