"""The transactional outbox's storage contract, on every backend: outcomes, operations
and the unit of work.

Times are explicit (`now=` values derived from T0), so leases, retries and due times are
exercised without sleeping.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from storage.db import Database
from storage.models import OutboxRow
from tests.support.outbox_rows import LEASE, T0, add, at, claim, keys, row, row_count

# -- outcomes ----------------------------------------------------------------------------------


async def test_mark_retry_reschedules_with_the_error(db: Database) -> None:
    await add(db, "k")
    msg = (await claim(db, now=T0))[0]
    async with db.uow() as uow:
        assert await uow.outbox.mark_retry(msg, now=at(1), next_attempt_at=at(30), error="503")
        await uow.commit()
    stored = await row(db, "k")
    assert (stored.status, stored.attempts, stored.last_error) == ("pending", 1, "503")
    assert (stored.next_attempt_at, stored.locked_by, stored.locked_until) == (at(30), None, None)
    assert stored.updated_at == at(1)
    assert await claim(db, now=at(29)) == []
    again = await claim(db, now=at(30))
    assert keys(again) == ["k"]
    assert again[0].attempts == 2


async def test_mark_dead_takes_the_row_out_of_delivery(db: Database) -> None:
    await add(db, "k")
    msg = (await claim(db, now=T0))[0]
    async with db.uow() as uow:
        assert await uow.outbox.mark_dead(msg, now=at(1), error="400 bad request") is True
        await uow.commit()
    stored = await row(db, "k")
    assert (stored.status, stored.last_error, stored.locked_by) == ("dead", "400 bad request", None)
    assert await claim(db, now=at(10_000)) == []


async def test_mark_done_records_when(db: Database) -> None:
    await add(db, "k")
    msg = (await claim(db, now=T0))[0]
    async with db.uow() as uow:
        assert await uow.outbox.mark_done(msg, now=at(3)) is True
        await uow.commit()
    stored = await row(db, "k")
    assert (stored.status, stored.done_at, stored.locked_by, stored.last_error) == (
        "done",
        at(3),
        None,
        None,
    )
    assert await claim(db, now=at(10_000)) == []


async def test_defer_does_not_spend_an_attempt(db: Database) -> None:
    await add(db, "k")
    msg = (await claim(db, now=T0))[0]
    assert msg.attempts == 1
    async with db.uow() as uow:
        assert await uow.outbox.defer(msg, now=at(1), until=at(5)) is True
        await uow.commit()
    stored = await row(db, "k")
    assert (stored.status, stored.attempts, stored.next_attempt_at) == ("pending", 0, at(5))
    assert stored.locked_by is None
    assert await claim(db, now=at(4)) == []
    again = await claim(db, now=at(5))
    assert again[0].attempts == 1


async def test_outcomes_with_a_stale_claim_change_nothing(db: Database) -> None:
    await add(db, "k")
    stale = (await claim(db, now=T0))[0]
    current = (await claim(db, now=T0 + LEASE + timedelta(seconds=1)))[0]
    before = await row(db, "k")
    async with db.uow() as uow:
        assert await uow.outbox.mark_done(stale, now=at(200)) is False
        assert await uow.outbox.mark_dead(stale, now=at(200), error="x") is False
        assert (
            await uow.outbox.mark_retry(stale, now=at(200), next_attempt_at=at(300), error="x")
            is False
        )
        assert await uow.outbox.defer(stale, now=at(200), until=at(300)) is False
        await uow.commit()
    after = await row(db, "k")
    assert after.locked_by == current.claim
    assert (after.status, after.attempts, after.next_attempt_at, after.done_at) == (
        "pending",
        2,
        before.next_attempt_at,
        None,
    )
    assert (after.locked_until, after.updated_at, after.last_error) == (
        before.locked_until,
        before.updated_at,
        None,
    )
    # The current claim still settles it.
    async with db.uow() as uow:
        assert await uow.outbox.mark_done(current, now=at(201)) is True
        await uow.commit()
    assert (await row(db, "k")).status == "done"


# -- operations: stats, dead letters, revive, prune ------------------------------------------


async def _settle(db: Database, key: str, outcome: str, *, now: datetime) -> None:
    msg = next(m for m in await claim(db, now=now) if m.idempotency_key == key)
    async with db.uow() as uow:
        if outcome == "done":
            await uow.outbox.mark_done(msg, now=now)
        else:
            await uow.outbox.mark_dead(msg, now=now, error=f"gave up on {key}")
        await uow.commit()


async def test_stats_counts_pending_and_dead_and_the_oldest_pending(db: Database) -> None:
    async with db.uow() as uow:
        empty = await uow.outbox.stats()
    assert (empty.pending, empty.dead, empty.oldest_pending_at) == (0, 0, None)

    await add(db, "done", now=at(-100))
    await _settle(db, "done", "done", now=T0)
    await add(db, "dead", now=at(-50))
    await _settle(db, "dead", "dead", now=T0)
    await add(db, "p1", now=at(10))
    await add(db, "p2", now=at(20), not_before=at(3600))
    await claim(db, now=at(30))  # a claimed row is still pending

    async with db.uow() as uow:
        stats = await uow.outbox.stats()
    assert (stats.pending, stats.dead, stats.oldest_pending_at) == (2, 1, at(10))


async def test_dead_letters_lists_the_most_recent_first(db: Database) -> None:
    for n in range(3):
        await add(db, f"d{n}")
        await _settle(db, f"d{n}", "dead", now=at(n))
    await add(db, "ok")
    await _settle(db, "ok", "done", now=at(10))

    async with db.uow() as uow:
        letters = await uow.outbox.dead_letters()
        limited = await uow.outbox.dead_letters(limit=2)
    assert [d.idempotency_key for d in letters] == ["d2", "d1", "d0"]
    assert [d.idempotency_key for d in limited] == ["d2", "d1"]
    first = letters[0]
    assert (first.kind, first.attempts, first.last_error, first.updated_at) == (
        "test.kind",
        1,
        "gave up on d2",
        at(2),
    )


async def test_revive_sends_a_dead_letter_round_again(db: Database) -> None:
    await add(db, "k")
    await _settle(db, "k", "dead", now=T0)
    dead_id = (await row(db, "k")).id
    await add(db, "live")
    live_id = (await row(db, "live")).id

    async with db.uow() as uow:
        assert await uow.outbox.revive(live_id, now=at(5)) is False  # not dead
        assert await uow.outbox.revive(10_000, now=at(5)) is False  # no such row
        assert await uow.outbox.revive(dead_id, now=at(5)) is True
        assert uow.outbox.added == 1
        await uow.commit()
    stored = await row(db, "k")
    # Attempts are kept (effects look for an earlier attempt's output); the give-up clock
    # and the backoff start again.
    assert (stored.status, stored.attempts, stored.next_attempt_at) == ("pending", 1, at(5))
    assert (stored.first_due_at, stored.failures, stored.wait_reason) == (at(5), 0, None)
    assert keys(await claim(db, now=at(5))) == ["k", "live"]


async def test_prune_deletes_only_done_rows_older_than_the_cutoff(db: Database) -> None:
    await add(db, "old-done")
    await _settle(db, "old-done", "done", now=at(10))
    await add(db, "new-done")
    await _settle(db, "new-done", "done", now=at(100))
    await add(db, "edge-done")
    await _settle(db, "edge-done", "done", now=at(50))
    await add(db, "old-dead")
    await _settle(db, "old-dead", "dead", now=at(10))
    await add(db, "pending", not_before=at(10_000))

    async with db.uow() as uow:
        assert await uow.outbox.prune(done_before=at(50)) == 1
        await uow.commit()
    async with db.uow() as uow:
        left = set(await uow.session.scalars(select(OutboxRow.idempotency_key)))
    assert left == {"new-done", "edge-done", "old-dead", "pending"}


# -- the unit of work ------------------------------------------------------------------------


async def test_without_commit_nothing_persists(db: Database) -> None:
    # flush(): written to the transaction, as commit would, but not committed.
    async with db.uow() as uow:
        await uow.outbox.add("test.kind", {}, key="k", now=T0)
        await uow.outbox.flush()
    assert await row_count(db) == 0

    async with db.uow() as uow:
        await uow.outbox.add("test.kind", {}, key="k", now=T0)
        await uow.outbox.flush()
        await uow.rollback()
        await uow.commit()  # nothing left to commit: the rollback dropped the row
    assert await row_count(db) == 0

    with pytest.raises(RuntimeError):
        async with db.uow() as uow:
            await uow.outbox.add("test.kind", {}, key="k", now=T0)
            await uow.outbox.flush()
            raise RuntimeError("handler crashed")
    assert await row_count(db) == 0

    async with db.uow() as uow:
        await uow.outbox.add("test.kind", {}, key="k", now=T0)
        await uow.commit()
    assert await row_count(db) == 1


async def test_the_outbox_listener_fires_only_after_a_commit_that_added_rows(
    database_url: str,
) -> None:
    calls: list[str] = []
    db = Database(database_url, on_outbox_commit=lambda: calls.append("wake"))
    try:
        async with db.uow() as uow:  # added but not committed
            await uow.outbox.add("test.kind", {}, key="a", now=T0)
        assert calls == []

        async with db.uow() as uow:  # committed, nothing added
            await uow.outbox.stats()
            await uow.commit()
        assert calls == []

        await add(db, "dup")
        calls.clear()
        async with db.uow() as uow:  # committed, a duplicate only
            await uow.outbox.add("test.kind", {}, key="dup", now=T0)
            await uow.commit()
        assert calls == []

        async with db.uow() as uow:
            await uow.outbox.add("test.kind", {}, key="b", now=T0)
            await uow.outbox.add("test.kind", {}, key="c", now=T0)
            assert calls == []  # not before the commit
            await uow.commit()
            assert calls == ["wake"]
            await uow.commit()  # a second commit with nothing new added stays quiet
        assert calls == ["wake"]

        db.set_outbox_listener(None)
        await add(db, "d")
        assert calls == ["wake"]
    finally:
        await db.dispose()
