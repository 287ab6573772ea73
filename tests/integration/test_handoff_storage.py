"""Handoff storage on every backend: compare-and-set transitions, idempotent messages,
thread lookup, the audit trail, and exact UTC round-trips."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError, StatementError

from storage.db import Database
from storage.handoffs import insert_new_handoffs, reference_holder, stored_references
from storage.models import Handoff, HandoffMessage
from tests.support.handoff_rows import T0, handoff_values


def make_handoff(n: int = 1, **overrides: Any) -> Handoff:
    return Handoff(**handoff_values(n, **overrides))


async def store(db: Database, handoff: Handoff) -> Handoff:
    async with db.uow() as uow:
        await uow.handoffs.add(handoff)
        await uow.commit()
    return handoff


async def load(db: Database, handoff_id: str) -> Handoff:
    async with db.uow() as uow:
        found = await uow.handoffs.get(handoff_id)
    assert found is not None, handoff_id
    return found


# -- transition: compare-and-set ---------------------------------------------------------------


async def test_stored_handoff_starts_at_version_one(db: Database) -> None:
    stored = await store(db, make_handoff())
    assert stored.id is not None
    loaded = await load(db, stored.handoff_id)
    assert (loaded.version, loaded.status, loaded.claimed_by) == (1, "queued", None)
    assert loaded.transcript == [{"role": "customer", "text": "hi", "at": "2026-01-05T08:58:00Z"}]


async def test_concurrent_claims_have_exactly_one_winner(db: Database) -> None:
    handoff = await store(db, make_handoff())
    users = [f"U{n:02}" for n in range(10)]

    async def claim(user: str) -> bool:
        async with db.uow() as uow:
            won = await uow.handoffs.transition(
                handoff.handoff_id,
                from_statuses=["queued"],
                values={"status": "claimed", "claimed_by": user, "claimed_at": T0},
            )
            await asyncio.sleep(0)  # hold the transaction open across a switch
            await uow.commit()
        return won

    results = await asyncio.gather(*(claim(user) for user in users))
    assert results.count(True) == 1, results
    winner = users[results.index(True)]
    stored = await load(db, handoff.handoff_id)
    assert (stored.status, stored.claimed_by, stored.claimed_at) == ("claimed", winner, T0)
    assert stored.version == 2  # exactly one update landed


async def test_transition_increments_the_version_each_time(db: Database) -> None:
    handoff = await store(db, make_handoff())
    steps: list[tuple[list[str], dict[str, Any], str | None]] = [
        (["queued"], {"status": "claimed", "claimed_by": "U1"}, None),
        (["claimed"], {"status": "queued", "claimed_by": None}, "U1"),
        (["queued"], {"status": "claimed", "claimed_by": "U2"}, None),
        (["claimed"], {"status": "resolved", "resolved_by": "U2"}, "U2"),
    ]
    for version, (from_statuses, values, claimed_by) in enumerate(steps, start=2):
        async with db.uow() as uow:
            assert await uow.handoffs.transition(
                handoff.handoff_id,
                from_statuses=from_statuses,
                values=values,
                claimed_by=claimed_by,
            )
            await uow.commit()
        assert (await load(db, handoff.handoff_id)).version == version
    final = await load(db, handoff.handoff_id)
    assert (final.status, final.resolved_by, final.version) == ("resolved", "U2", 5)


async def test_a_refused_transition_changes_nothing(db: Database) -> None:
    handoff = await store(db, make_handoff(status="claimed", claimed_by="U1"))
    async with db.uow() as uow:
        # Wrong status.
        assert not await uow.handoffs.transition(
            handoff.handoff_id, from_statuses=["queued"], values={"status": "claimed"}
        )
        # Right status, someone else's claim.
        assert not await uow.handoffs.transition(
            handoff.handoff_id,
            from_statuses=["claimed"],
            values={"status": "resolved", "resolved_by": "U2"},
            claimed_by="U2",
        )
        # No such handoff.
        assert not await uow.handoffs.transition(
            "nope", from_statuses=["claimed"], values={"status": "resolved"}
        )
        await uow.commit()
    stored = await load(db, handoff.handoff_id)
    assert (stored.status, stored.claimed_by, stored.resolved_by, stored.version) == (
        "claimed",
        "U1",
        None,
        1,
    )


async def test_transition_without_commit_is_rolled_back(db: Database) -> None:
    handoff = await store(db, make_handoff())
    async with db.uow() as uow:
        assert await uow.handoffs.transition(
            handoff.handoff_id, from_statuses=["queued"], values={"status": "claimed"}
        )
    stored = await load(db, handoff.handoff_id)
    assert (stored.status, stored.version) == ("queued", 1)


# -- messages -------------------------------------------------------------------------------


async def test_add_message_is_idempotent_on_handoff_direction_and_external_id(
    db: Database,
) -> None:
    first = await store(db, make_handoff(1))
    second = await store(db, make_handoff(2))

    async def add(handoff: Handoff, direction: str, external_id: str, text: str) -> bool:
        async with db.uow() as uow:
            added = await uow.handoffs.add_message(
                handoff.id, direction=direction, external_id=external_id, text=text, at=T0
            )
            await uow.commit()
        return added

    assert await add(first, "customer", "m1", "hello") is True
    assert await add(first, "customer", "m1", "hello again (redelivered)") is False
    # The same external id in another direction or another handoff is another message.
    assert await add(first, "agent", "m1", "answer") is True
    assert await add(second, "customer", "m1", "other handoff") is True
    assert await add(first, "customer", "m2", "second") is True

    async with db.uow() as uow:
        messages = await uow.handoffs.messages(first.id)
        everything = list(await uow.session.scalars(select(HandoffMessage)))
    assert [(m.direction, m.external_id, m.text) for m in messages] == [
        ("customer", "m1", "hello"),
        ("agent", "m1", "answer"),
        ("customer", "m2", "second"),
    ]
    assert len(everything) == 4
    assert messages[0].created_at == T0


async def test_concurrent_redeliveries_store_the_message_once(db: Database) -> None:
    handoff = await store(db, make_handoff())

    async def deliver() -> bool:
        async with db.uow() as uow:
            added = await uow.handoffs.add_message(
                handoff.id, direction="customer", external_id="m1", text="hi", at=T0
            )
            await uow.commit()
        return added

    results = await asyncio.gather(*(deliver() for _ in range(5)))
    assert results.count(True) == 1, results
    async with db.uow() as uow:
        assert len(await uow.handoffs.messages(handoff.id)) == 1


# -- lookups and the audit trail ----------------------------------------------------------------


async def test_by_thread_finds_the_handoff_of_a_slack_thread(db: Database) -> None:
    posted = await store(db, make_handoff(1, slack_channel="C1", slack_ts="1700000000.000100"))
    await store(db, make_handoff(2, slack_channel="C1", slack_ts="1700000000.000200"))
    await store(db, make_handoff(3))  # not posted yet
    async with db.uow() as uow:
        found = await uow.handoffs.by_thread("C1", "1700000000.000100")
        assert found is not None and found.handoff_id == posted.handoff_id
        assert await uow.handoffs.by_thread("C2", "1700000000.000100") is None
        assert await uow.handoffs.by_thread("C1", "1700000000.000999") is None


async def test_recent_events_are_the_latest_in_chronological_order(db: Database) -> None:
    handoff = await store(db, make_handoff(1))
    other = await store(db, make_handoff(2))
    async with db.uow() as uow:
        for n, kind in enumerate(["created", "posted", "claimed", "released", "claimed"]):
            await uow.handoffs.add_event(
                handoff.id, kind, at=T0 + timedelta(minutes=n), actor=f"U{n}", detail=None
            )
        await uow.handoffs.add_event(other.id, "created", at=T0, actor=None, detail="other")
        await uow.commit()
    async with db.uow() as uow:
        recent = await uow.handoffs.recent_events(handoff.id)
        all_five = await uow.handoffs.recent_events(handoff.id, limit=10)
    assert [(e.kind, e.actor) for e in recent] == [
        ("claimed", "U2"),
        ("released", "U3"),
        ("claimed", "U4"),
    ]
    assert [e.at for e in recent] == [T0 + timedelta(minutes=n) for n in (2, 3, 4)]
    assert [e.kind for e in all_five] == ["created", "posted", "claimed", "released", "claimed"]


# -- UTC datetimes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 1, 5, 9, 0, 0, 123456, tzinfo=UTC),
        datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        # Another zone in, the same instant out, in UTC.
        datetime(2026, 7, 1, 2, 30, 0, 1, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        datetime(2026, 3, 29, 1, 0, 0, 500000, tzinfo=timezone(timedelta(hours=-8))),
    ],
    ids=["utc-micro", "y2k-eve", "plus-0530", "minus-08"],
)
async def test_utc_datetimes_round_trip_exactly(db: Database, moment: datetime) -> None:
    handoff = await store(db, make_handoff(created_at=moment, claimed_at=moment))
    loaded = await load(db, handoff.handoff_id)
    for value in (loaded.created_at, loaded.claimed_at):
        assert value == moment
        assert value is not None and value.utcoffset() == timedelta(0)
        assert value.replace(tzinfo=None) == moment.astimezone(UTC).replace(tzinfo=None)
    assert loaded.resolved_at is None
    # Filters compare instants, not wall-clock text.
    async with db.uow() as uow:
        hit = await uow.session.scalar(
            select(Handoff.handoff_id).where(Handoff.created_at == moment.astimezone(UTC))
        )
        later = await uow.session.scalar(
            select(Handoff.handoff_id).where(
                Handoff.created_at > moment + timedelta(microseconds=1)
            )
        )
    assert (hit, later) == (handoff.handoff_id, None)


async def test_naive_datetimes_are_refused(db: Database) -> None:
    with pytest.raises(StatementError, match="timezone-aware"):
        async with db.uow() as uow:
            await uow.handoffs.add(make_handoff(created_at=datetime(2026, 1, 5, 9, 0)))


# -- references and lookups the intake relies on -------------------------------------------


async def test_a_taken_reference_is_a_unique_violation_not_a_silent_skip(db: Database) -> None:
    """The intake's insert skips a repeated handoff_id, but a new handoff_id whose
    reference is taken must fail loudly (so the intake picks another), on both backends."""
    await store(db, make_handoff(1, reference="DH-TAKEN000"))

    def insert(conn: Connection) -> dict[str, int]:
        return insert_new_handoffs(conn, [handoff_values(2, reference="DH-TAKEN000")])

    with pytest.raises(IntegrityError):
        await db.in_one_trip(insert)

    def repeat(conn: Connection) -> tuple[dict[str, int], dict[str, str], str | None]:
        again = insert_new_handoffs(conn, [handoff_values(1, reference="DH-OTHER000")])
        stored = stored_references(conn, ["sess-1:esc-1", "sess-9:esc-1"])
        return again, stored, reference_holder(conn, "DH-TAKEN000")

    assert await db.in_one_trip(repeat) == ({}, {"sess-1:esc-1": "DH-TAKEN000"}, "sess-1:esc-1")
    async with db.uow() as uow:
        assert await uow.handoffs.count_by_status() == {"queued": 1}


async def test_lookups_with_a_nul_find_nothing_instead_of_failing(db: Database) -> None:
    await store(db, make_handoff(1, slack_channel="C1", slack_ts="1.1"))
    async with db.reads() as uow:
        assert await uow.handoffs.get("sess-1\x00") is None
        assert await uow.handoffs.get_by_reference("HD-\x00") is None
        assert await uow.handoffs.by_thread("C1\x00", "1.1") is None
        assert await uow.handoffs.by_ticket("local", "\x00") is None
        assert await uow.handoffs.get("sess-1:esc-1") is not None
