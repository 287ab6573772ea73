"""Giving up by time, never by a number of attempts; a capped backoff; a destination that
answers again gets its waiting rows at once; dead letters alerted in their transaction.

Driven round by round with a FakeClock (no background task except where start-up is the
point), on every backend: the recovery and retry statements are SQL of their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.clock import FakeClock
from bot.config import ConfigError, load_settings
from bot.metrics import Metrics
from bot.outbox.dead_letters import ALERTS_PER_WINDOW, DeadLetterHooks, queue_alert
from bot.outbox.dispatcher import OutboxDispatcher, RetryPolicy
from bot.outbox.kinds import OutboxKind, destination
from integrations.errors import CircuitOpen, RateLimited, Rejected, Unavailable
from storage.db import Database
from storage.models import OutboxRow
from storage.outbox import OutboxMessage

SLACK_A, SLACK_B = OutboxKind.SLACK_THREAD_MESSAGE.value, OutboxKind.SLACK_REACTION.value
CHATBOT = OutboxKind.CHATBOT_CALLBACK.value
ALERT = OutboxKind.SLACK_DEAD_LETTER_ALERT.value
POLICY = RetryPolicy(base=2.0, cap=300.0, give_up_after=3600.0, outage_after=10.0)


def down(system: str = "slack") -> Unavailable:
    return Unavailable(system, "503 Service Unavailable")


@dataclass
class World:
    """Fake destinations: each kind fails with what ``failing`` says, else succeeds."""

    db: Database
    clock: FakeClock
    metrics: Metrics = field(default_factory=Metrics)
    failing: dict[str, BaseException] = field(default_factory=dict)
    delivered: list[str] = field(default_factory=list)  # idempotency keys

    async def effect(self, message: OutboxMessage) -> None:
        error = self.failing.get(message.idempotency_key) or self.failing.get(
            destination(message.kind)
        )
        if error is not None:
            raise error
        self.delivered.append(message.idempotency_key)

    def dispatcher(self, policy: RetryPolicy = POLICY, concurrency: int = 16) -> OutboxDispatcher:
        kinds = [SLACK_A, SLACK_B, CHATBOT, ALERT]
        return OutboxDispatcher(
            self.db,
            dict.fromkeys(kinds, self.effect),
            clock=self.clock,
            metrics=self.metrics,
            policy=policy,
            concurrency=concurrency,
            dead_letter_hooks=DeadLetterHooks(every=(queue_alert,)),
        )

    async def queue(self, key: str, kind: str = SLACK_A) -> None:
        async with self.db.uow() as uow:
            await uow.outbox.add(kind, {"n": 1}, key=key, now=self.clock.now())
            await uow.commit()

    async def row(self, key: str) -> OutboxRow:
        async with self.db.reads() as uow:
            found = await uow.session.scalar(
                select(OutboxRow).where(OutboxRow.idempotency_key == key)
            )
        assert found is not None, key
        return found

    async def rows(self, kind: str) -> list[OutboxRow]:
        async with self.db.reads() as uow:
            return list(
                await uow.session.scalars(
                    select(OutboxRow).where(OutboxRow.kind == kind).order_by(OutboxRow.id)
                )
            )

    async def wait(self, key: str) -> float:
        """Seconds from now until the row is due."""
        return ((await self.row(key)).next_attempt_at - self.clock.now()).total_seconds()

    def processed(self, outcome: str, kind: str = SLACK_A) -> float:
        value = self.metrics.registry.get_sample_value(
            "deskhand_outbox_processed_total", {"kind": kind, "outcome": outcome}
        )
        return value or 0.0


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    db = Database(database_url)
    try:
        yield World(db=db, clock=FakeClock())
    finally:
        await db.dispose()


async def fail_until_due(world: World, dispatcher: OutboxDispatcher, key: str) -> float:
    """One more failed try of ``key``: move to its due time, deliver; the wait it got."""
    world.clock.set((await world.row(key)).next_attempt_at)
    await dispatcher.drain()
    return await world.wait(key)


# -- backoff -----------------------------------------------------------------------------------


async def test_the_backoff_grows_to_the_cap_and_never_past_it(world: World) -> None:
    world.failing["slack"] = down()
    await world.queue("k")
    dispatcher = world.dispatcher()
    await dispatcher.drain()
    waits = [await world.wait("k")]
    for _ in range(14):
        waits.append(await fail_until_due(world, dispatcher, "k"))
    assert all(0 < wait <= POLICY.cap for wait in waits), waits
    assert waits[0] <= POLICY.base
    assert all(wait >= POLICY.cap / 2 for wait in waits[-5:]), waits  # at the cap (jittered)
    row = await world.row("k")
    assert (row.status, row.attempts, row.failures) == ("pending", 15, 15)


async def test_a_retry_after_past_the_cap_waits_the_cap(world: World) -> None:
    world.failing["slack"] = RateLimited("slack", "429", retry_after=86_400)
    await world.queue("k")
    await world.dispatcher().drain()
    assert await world.wait("k") == POLICY.cap


async def test_a_429_does_not_advance_the_backoff(world: World) -> None:
    world.failing["slack"] = down()
    await world.queue("k")
    dispatcher = world.dispatcher()
    await dispatcher.drain()
    await fail_until_due(world, dispatcher, "k")
    assert (await world.row("k")).failures == 2
    world.failing["slack"] = RateLimited("slack", "429 ratelimited")  # no Retry-After
    for _ in range(6):
        wait = await fail_until_due(world, dispatcher, "k")
        # The wait of the second failure, again and again: base * 2 * [0.5, 1].
        assert POLICY.base <= wait <= POLICY.base * 2
    row = await world.row("k")
    assert (row.attempts, row.failures, row.wait_reason) == (8, 2, "rate_limit")
    world.failing["slack"] = down()
    assert POLICY.base * 2 <= await fail_until_due(world, dispatcher, "k") <= POLICY.base * 4
    assert (await world.row("k")).failures == 3


async def test_a_circuits_cool_down_counts_towards_the_wait(world: World) -> None:
    world.failing["slack"] = CircuitOpen("slack", "circuit open", retry_after=45)
    await world.queue("k")
    await world.dispatcher().drain()
    # The backoff (1-2 s) is inside the cool-down, not added to it.
    assert await world.wait("k") == 45
    row = await world.row("k")
    assert (row.failures, row.wait_reason) == (1, "outage")


# -- giving up ---------------------------------------------------------------------------------


async def test_a_delivery_failing_for_the_whole_window_is_dead_and_alerted(world: World) -> None:
    world.failing["slack"] = down()
    await world.queue("k")
    first_due = world.clock.now()
    dispatcher = world.dispatcher()
    await dispatcher.drain()
    while (await world.row("k")).status == "pending":
        assert world.clock.now() - first_due < timedelta(seconds=POLICY.give_up_after)
        await fail_until_due(world, dispatcher, "k")
    row = await world.row("k")
    gone = world.clock.now() - first_due
    assert timedelta(seconds=POLICY.give_up_after) <= gone
    assert gone <= timedelta(seconds=POLICY.give_up_after + POLICY.cap)
    assert row.status == "dead" and row.attempts > 12  # far past the old attempt limit
    assert row.last_error == str(down())
    assert (world.processed("dead"), world.processed("retry")) == (1, row.attempts - 1)
    [alert] = await world.rows(ALERT)
    assert alert.status == "pending" and alert.created_at == world.clock.now()
    assert alert.payload["outbox_id"] == row.id and alert.payload["gave_up"] is True
    assert alert.payload["kind"] == SLACK_A and alert.payload["key"] == "k"


async def test_a_refusal_is_dead_at_once_and_alerted(world: World) -> None:
    world.failing["slack"] = Rejected("slack", "400 invalid_blocks", status=400)
    await world.queue("k", kind=SLACK_B)
    await world.dispatcher().drain()
    row = await world.row("k")
    assert (row.status, row.attempts) == ("dead", 1)
    [alert] = await world.rows(ALERT)
    assert alert.payload["gave_up"] is False and alert.payload["outbox_id"] == row.id


async def test_an_alert_that_dead_letters_raises_no_alert(world: World) -> None:
    world.failing["slack"] = Rejected("slack", "400 channel_not_found", status=400)
    await world.queue("k")
    await world.dispatcher().drain()  # the row dies, its alert dies, nothing more
    alerts = await world.rows(ALERT)
    assert [a.status for a in alerts] == ["dead"]
    assert (await world.row("k")).status == "dead"


async def test_many_dead_letters_at_once_are_alerted_a_few_then_summed_up(world: World) -> None:
    world.failing["chatbot"] = Rejected("chatbot", "400", status=400)
    for n in range(ALERTS_PER_WINDOW + 4):
        await world.queue(f"k{n}", kind=CHATBOT)
    world.failing["slack"] = down()  # the alerts wait: Slack is unreachable
    # One at a time: concurrent dead letters may each see fewer than the limit (the limit
    # only keeps a flood down; it is not exact).
    await world.dispatcher(concurrency=1).drain()
    alerts = await world.rows(ALERT)
    singles = [a for a in alerts if "outbox_id" in a.payload]
    summaries = [a for a in alerts if "since" in a.payload]
    assert (len(singles), len(summaries)) == (ALERTS_PER_WINDOW, 1)
    assert all(a.status == "pending" for a in alerts)


# -- recovery ----------------------------------------------------------------------------------


async def test_one_success_makes_the_destinations_waiting_rows_due_at_once(world: World) -> None:
    world.failing["slack"] = down()
    world.failing["crashes"] = KeyError("a bug, not an outage")
    world.failing["limited"] = RateLimited("slack", "429", retry_after=250)
    for key in ("a", "b", "c", "crashes"):
        await world.queue(key, kind=SLACK_A if key != "b" else SLACK_B)
    await world.queue("bot", kind=CHATBOT)
    world.failing["chatbot"] = down("chatbot")
    dispatcher = world.dispatcher()
    await dispatcher.drain()
    for _ in range(10):  # Slack stays down for a while: the rows back off to the cap
        world.clock.advance(POLICY.cap)
        await dispatcher.drain()
    assert all([await world.wait(k) > POLICY.cap / 2 for k in ("a", "b", "c")])
    await world.queue("limited")
    await dispatcher.drain()

    del world.failing["slack"]  # Slack is back; the chatbot is not
    await world.queue("new")
    await dispatcher.drain()  # no time passes: one success, then the rest at once
    assert world.delivered[0] == "new"
    assert sorted(world.delivered) == ["a", "b", "c", "new"]
    # Not brought forward: another destination, a crashing effect, a 429's Retry-After.
    for key in ("bot", "crashes", "limited"):
        assert (await world.row(key)).status == "pending"
        assert await world.wait(key) > 0


async def test_a_row_failing_alone_keeps_its_backoff(world: World) -> None:
    # Slack answers the others: one row's 503s are not an outage of Slack.
    world.failing["poison"] = down()
    await world.queue("poison")
    dispatcher = world.dispatcher()
    await dispatcher.drain()
    for n in range(5):
        due = (await world.row("poison")).next_attempt_at
        world.clock.set(due)
        await world.queue(f"ok{n}")
        await dispatcher.drain()
        assert (await world.row("poison")).next_attempt_at > world.clock.now()
    assert (await world.row("poison")).failures == 6


async def test_start_up_makes_rows_waiting_after_a_failure_due(world: World) -> None:
    world.failing |= {
        "outage": down(),
        "crash": KeyError("x"),
        "limited": RateLimited("slack", "429", retry_after=200),
    }
    for key in ("outage", "crash", "limited"):
        await world.queue(key)
    await world.dispatcher().drain()
    world.failing.clear()

    restarted = world.dispatcher()
    restarted.start()  # a new process: its first act is to bring waiting rows forward
    try:
        restarted.wake()
        for _ in range(500):
            if {"outage", "crash"} <= set(world.delivered):
                break
            await asyncio.sleep(0.01)  # waiting for the background task, not for time
    finally:
        await restarted.stop()
    assert sorted(world.delivered) == ["crash", "outage"]
    assert (await world.row("limited")).status == "pending"
    assert await world.wait("limited") > 0
    assert await world.dispatcher().retry_waiting_now() == 0


# -- settings ----------------------------------------------------------------------------------


def test_the_defaults_are_five_minutes_and_two_days() -> None:
    settings = load_settings()
    assert (settings.outbox_retry_cap, settings.outbox_give_up_after) == (300.0, 172800.0)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("DESKHAND_OUTBOX_MAX_ATTEMPTS", "DESKHAND_OUTBOX_GIVE_UP_AFTER"),
        ("DESKHAND_OUTBOX_BACKOFF_MAX", "DESKHAND_OUTBOX_RETRY_CAP"),
    ],
)
def test_a_replaced_variable_stops_start_up_naming_its_successor(
    monkeypatch: pytest.MonkeyPatch, old: str, new: str
) -> None:
    monkeypatch.setenv(old, "12")
    with pytest.raises(ConfigError) as refused:
        load_settings()
    message = str(refused.value)
    assert "\n" not in message and message.startswith("invalid configuration: ")
    assert old in message and new in message
