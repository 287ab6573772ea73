"""OutboxDispatcher outcomes, driven round by round with a FakeClock and fake effects.

No background task: run_once()/drain() only. The database tests run on SQLite only
(see `pytestmark` below); RetryPolicy.delay is checked with hypothesis.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from bot.clock import FakeClock
from bot.metrics import Metrics
from bot.outbox.dispatcher import NotReady, OutboxDispatcher, Permanent, RetryPolicy
from integrations.errors import (
    CircuitOpen,
    Conflict,
    NotFound,
    RateLimited,
    Rejected,
    Unavailable,
)
from storage.db import Database
from storage.models import OutboxRow
from storage.outbox import OutboxMessage

KIND = "test.send"
POLICY = RetryPolicy(base=2.0, cap=60.0, give_up_after=600.0)


@dataclass
class Rig:
    db: Database
    clock: FakeClock
    metrics: Metrics
    calls: list[OutboxMessage] = field(default_factory=list)
    dead_letters: list[tuple[int, str]] = field(default_factory=list)
    behaviour: list[BaseException | None] = field(default_factory=list)

    async def effect(self, message: OutboxMessage) -> None:
        """The fake effect: records the call, then raises the next scripted error (if any)."""
        self.calls.append(message)
        outcome = self.behaviour.pop(0) if self.behaviour else None
        if outcome is not None:
            raise outcome

    async def on_dead_letter(self, message: OutboxMessage, error: str) -> None:
        self.dead_letters.append((message.id, error))

    def dispatcher(
        self,
        effects: dict[str, Callable[[OutboxMessage], Awaitable[None]]] | None = None,
        policy: RetryPolicy = POLICY,
    ) -> OutboxDispatcher:
        return OutboxDispatcher(
            self.db,
            {KIND: self.effect} if effects is None else effects,
            clock=self.clock,
            metrics=self.metrics,
            policy=policy,
            on_dead_letter=self.on_dead_letter,
        )

    async def queue(self, key: str = "k1", kind: str = KIND, **payload: Any) -> None:
        async with self.db.uow() as uow:
            await uow.outbox.add(kind, payload or {"n": 1}, key=key, now=self.clock.now())
            await uow.commit()

    async def row(self, key: str = "k1") -> OutboxRow:
        async with self.db.uow() as uow:
            found = await uow.session.scalar(
                select(OutboxRow).where(OutboxRow.idempotency_key == key)
            )
        assert found is not None
        return found

    def processed(self, outcome: str, kind: str = KIND) -> float:
        value = self.metrics.registry.get_sample_value(
            "deskhand_outbox_processed_total", {"kind": kind, "outcome": outcome}
        )
        return value or 0.0


# The dispatcher's decisions do not depend on the backend; the claim/lease/ordering SQL
# it relies on is tested on every backend in tests/integration/test_outbox_storage.py.
pytestmark = pytest.mark.sqlite_only  # reason: backend-independent dispatcher logic


@pytest.fixture
async def rig(database_url: str) -> AsyncIterator[Rig]:
    db = Database(database_url)
    try:
        yield Rig(db=db, clock=FakeClock(), metrics=Metrics())
    finally:
        await db.dispose()


def unavailable() -> Unavailable:
    return Unavailable("slack", "503 Service Unavailable")


# -- outcomes ----------------------------------------------------------------------------------


async def test_success_marks_the_row_done(rig: Rig) -> None:
    await rig.queue(text="hello")
    assert await rig.dispatcher().drain() == 1
    assert [(m.kind, m.payload, m.attempts) for m in rig.calls] == [(KIND, {"text": "hello"}, 1)]
    row = await rig.row()
    assert (row.status, row.done_at, row.last_error, row.locked_by) == (
        "done",
        rig.clock.now(),
        None,
        None,
    )
    assert rig.processed("done") == 1
    assert await rig.dispatcher().drain() == 0  # nothing left
    assert len(rig.calls) == 1


async def test_unavailable_is_retried_later_with_backoff(rig: Rig) -> None:
    rig.behaviour = [unavailable()]
    await rig.queue()
    dispatcher = rig.dispatcher()
    start = rig.clock.now()
    assert await dispatcher.run_once() == 1
    row = await rig.row()
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.last_error is not None and "503" in row.last_error
    # First retry: base * [0.5, 1] seconds away.
    assert start + timedelta(seconds=1) <= row.next_attempt_at <= start + timedelta(seconds=2)
    assert await dispatcher.drain() == 0  # not due yet
    rig.clock.advance(2)
    assert await dispatcher.drain() == 1
    assert (await rig.row()).status == "done"
    assert [m.attempts for m in rig.calls] == [1, 2]
    assert (rig.processed("retry"), rig.processed("done")) == (1, 1)


async def test_backoff_grows_with_each_attempt(rig: Rig) -> None:
    rig.behaviour = [unavailable(), unavailable(), unavailable()]
    await rig.queue()
    dispatcher = rig.dispatcher(policy=RetryPolicy(base=2.0, cap=600.0))
    waits = []
    for _ in range(3):
        before = rig.clock.now()
        assert await dispatcher.run_once() == 1
        due = (await rig.row()).next_attempt_at
        waits.append((due - before).total_seconds())
        rig.clock.set(due)
    # attempt n waits within [0.5, 1] * 2 * 2**(n-1) seconds.
    for n, wait in enumerate(waits, start=1):
        assert 2.0 * 2 ** (n - 1) * 0.5 <= wait <= 2.0 * 2 ** (n - 1), waits


async def test_rate_limited_waits_at_least_retry_after(rig: Rig) -> None:
    rig.behaviour = [RateLimited("slack", "429", retry_after=50)]
    await rig.queue()
    dispatcher = rig.dispatcher()
    start = rig.clock.now()
    await dispatcher.run_once()
    row = await rig.row()
    assert row.status == "pending"
    assert start + timedelta(seconds=50) <= row.next_attempt_at <= start + timedelta(seconds=60)
    rig.clock.advance(49)
    assert await dispatcher.drain() == 0
    rig.clock.set(row.next_attempt_at)
    assert await dispatcher.drain() == 1
    assert (await rig.row()).status == "done"


async def test_rate_limited_without_a_hint_uses_the_backoff(rig: Rig) -> None:
    rig.behaviour = [RateLimited("slack", "429")]
    await rig.queue()
    start = rig.clock.now()
    await rig.dispatcher().run_once()
    row = await rig.row()
    assert start + timedelta(seconds=1) <= row.next_attempt_at <= start + timedelta(seconds=2)


async def test_an_open_circuit_waits_for_the_circuit(rig: Rig) -> None:
    rig.behaviour = [CircuitOpen("slack", "circuit open", retry_after=45)]
    await rig.queue()
    start = rig.clock.now()
    await rig.dispatcher().run_once()
    row = await rig.row()
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.next_attempt_at >= start + timedelta(seconds=45)


@pytest.mark.parametrize(
    "error",
    [
        Rejected("slack", "400 invalid_blocks", status=400),
        NotFound("zendesk", "404", status=404),
        Conflict("zendesk", "409", status=409),
        Permanent("cannot ever work"),
    ],
    ids=["rejected", "not-found", "conflict", "permanent"],
)
async def test_a_rejection_is_dead_at_once(rig: Rig, error: Exception) -> None:
    rig.behaviour = [error]
    await rig.queue()
    assert await rig.dispatcher().drain() == 1
    row = await rig.row()
    assert (row.status, row.attempts) == ("dead", 1)
    assert row.last_error == str(error)
    assert rig.dead_letters == [(row.id, str(error))]
    assert (rig.processed("dead"), rig.processed("retry")) == (1, 0)
    rig.clock.advance(10_000)
    assert await rig.dispatcher().drain() == 0


async def test_an_unexpected_exception_is_retried(rig: Rig) -> None:
    rig.behaviour = [KeyError("channel")]
    await rig.queue()
    dispatcher = rig.dispatcher()
    await dispatcher.run_once()
    row = await rig.row()
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.last_error is not None and row.last_error.startswith("KeyError")
    assert rig.dead_letters == []
    rig.clock.advance(2)
    assert await dispatcher.drain() == 1
    assert (await rig.row()).status == "done"
    assert (rig.processed("retry"), rig.processed("done")) == (1, 1)


async def test_failing_past_the_give_up_window_dead_letters_once(rig: Rig) -> None:
    rig.behaviour = [unavailable() for _ in range(100)]
    await rig.queue()
    start = rig.clock.now()
    dispatcher = rig.dispatcher()  # cap 60 s, give up after 600 s
    while (await rig.row()).status == "pending":
        await dispatcher.drain()
        rig.clock.advance(60)
    row = await rig.row()
    assert row.status == "dead"
    # Tried throughout the window, dead at the first failure once it had passed.
    last = rig.calls[-1].attempts
    assert (row.attempts, len(rig.calls)) == (last, last)
    assert row.updated_at - start >= timedelta(seconds=600)
    assert row.updated_at - start < timedelta(seconds=600 + 60 + 60)
    assert rig.dead_letters == [(row.id, str(unavailable()))]
    assert rig.processed("retry") == last - 1
    assert rig.processed("dead") == 1


async def test_not_ready_defers_without_spending_an_attempt(rig: Rig) -> None:
    # Deferring spends no attempt and is no failure: it never leads to a dead letter.
    rig.behaviour = [NotReady("parent not posted", retry_in=7) for _ in range(6)]
    await rig.queue()
    dispatcher = rig.dispatcher()
    for _ in range(6):
        before = rig.clock.now()
        assert await dispatcher.drain() == 1
        row = await rig.row()
        assert (row.status, row.attempts) == ("pending", 0)
        assert row.next_attempt_at == before + timedelta(seconds=7)
        rig.clock.advance(6)
        assert await dispatcher.drain() == 0
        rig.clock.advance(1)
    assert await dispatcher.drain() == 1
    row = await rig.row()
    assert (row.status, row.attempts) == ("done", 1)
    assert [m.attempts for m in rig.calls] == [1] * 7
    assert rig.dead_letters == []
    assert (rig.processed("deferred"), rig.processed("done")) == (6, 1)


async def test_an_unknown_kind_is_dead(rig: Rig) -> None:
    await rig.queue(kind="no.such.kind")
    assert await rig.dispatcher().drain() == 1
    row = await rig.row()
    assert row.status == "dead"
    assert row.last_error is not None and "no.such.kind" in row.last_error
    assert rig.calls == []
    assert [letter[0] for letter in rig.dead_letters] == [row.id]
    assert rig.processed("dead", kind="no.such.kind") == 1


async def test_a_batch_settles_each_row_on_its_own(rig: Rig) -> None:
    outcomes: dict[str, BaseException | None] = {
        "ok": None,
        "flaky": unavailable(),
        "bad": Rejected("slack", "400", status=400),
        "later": NotReady("waiting"),
    }

    async def effect(message: OutboxMessage) -> None:
        rig.calls.append(message)
        error = outcomes[message.idempotency_key]
        if error is not None:
            raise error

    for key in outcomes:
        await rig.queue(key=key)
    assert await rig.dispatcher({KIND: effect}).run_once() == 4
    statuses = {key: (await rig.row(key)).status for key in outcomes}
    assert statuses == {"ok": "done", "flaky": "pending", "bad": "dead", "later": "pending"}
    assert [rig.processed(o) for o in ("done", "retry", "dead", "deferred")] == [1, 1, 1, 1]


# -- RetryPolicy.delay -------------------------------------------------------------------------

attempts_st = st.integers(min_value=1, max_value=100_000)
bases = st.floats(min_value=0.001, max_value=100.0)
caps = st.floats(min_value=0.01, max_value=86_400.0)
hints = st.none() | st.floats(min_value=0.0, max_value=100_000.0)


def ceiling(policy: RetryPolicy, attempts: int) -> float:
    """The un-jittered delay: base * 2**(attempts - 1), capped (no float overflow)."""
    return min(policy.cap, policy.base * 2.0 ** min(attempts - 1, 1000))


@given(attempts=attempts_st, base=bases, cap=caps)
def test_delay_is_jittered_within_half_to_full_and_capped(
    attempts: int, base: float, cap: float
) -> None:
    policy = RetryPolicy(base=base, cap=cap)
    top = ceiling(policy, attempts)
    delay = policy.delay(attempts)
    assert top * 0.5 <= delay <= top
    assert delay <= cap


@given(attempts=attempts_st, base=bases, cap=caps, hint=hints)
def test_a_hint_is_a_floor_under_the_cap(
    attempts: int, base: float, cap: float, hint: float | None
) -> None:
    policy = RetryPolicy(base=base, cap=cap)
    delay = policy.delay(attempts, hint=hint)
    assert delay >= min(hint or 0.0, cap)
    assert delay <= max(min(hint or 0.0, cap), ceiling(policy, attempts))
    assert delay <= cap


@given(
    attempts=st.integers(min_value=1, max_value=60),
    base=bases,
    jitter=st.floats(min_value=0.0, max_value=0.999999),
)
def test_delay_doubles_per_attempt_until_the_cap(attempts: int, base: float, jitter: float) -> None:
    policy = RetryPolicy(base=base, cap=600.0)
    with mock.patch.object(random, "random", return_value=jitter):
        now, then = policy.delay(attempts), policy.delay(attempts + 1)
    if base * 2.0**attempts <= policy.cap:  # both below the cap
        assert then == pytest.approx(2 * now)
    else:
        assert now <= then <= policy.cap


def test_delay_spans_its_jitter_range() -> None:
    policy = RetryPolicy(base=8.0, cap=600.0)
    samples = [policy.delay(3) for _ in range(2000)]  # ceiling 32 s
    assert min(samples) >= 16.0 and max(samples) <= 32.0
    assert min(samples) < 18.0 and max(samples) > 30.0  # actually jittered


async def test_a_delivery_waits_for_a_gap_while_a_request_is_answered(rig: Rig) -> None:
    await rig.queue()
    dispatcher = rig.dispatcher()
    with rig.db.serving():  # a webhook being answered
        draining = asyncio.create_task(dispatcher.drain())
        for _ in range(20):
            await asyncio.sleep(0)
        assert rig.calls == []  # the delivery steps aside while the request is in flight
    assert await asyncio.wait_for(draining, 5) == 1  # ... and goes once it is answered
    assert len(rig.calls) == 1
