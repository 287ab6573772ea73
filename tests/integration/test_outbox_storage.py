"""The transactional outbox's storage contract, on every backend.

Times are explicit (`now=` values derived from T0), so leases, retries and due times are
exercised without sleeping.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from storage.db import Database
from storage.models import OutboxRow
from storage.outbox import OutboxMessage

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    try:
        yield database
    finally:
        await database.dispose()


async def add(
    db: Database,
    key: str,
    *,
    now: datetime = T0,
    ordering_key: str | None = None,
    not_before: datetime | None = None,
    kind: str = "test.kind",
) -> bool:
    async with db.uow() as uow:
        added = await uow.outbox.add(
            kind,
            {"key": key},
            key=key,
            now=now,
            ordering_key=ordering_key,
            not_before=not_before,
        )
        await uow.commit()
    return added


async def claim(
    db: Database, *, now: datetime = T0, limit: int = 100, lease: timedelta = LEASE
) -> list[OutboxMessage]:
    async with db.uow() as uow:
        batch = await uow.outbox.claim_due(now=now, limit=limit, lease=lease)
        await uow.commit()
    return batch


async def row(db: Database, key: str) -> OutboxRow:
    async with db.uow() as uow:
        found = await uow.session.scalar(select(OutboxRow).where(OutboxRow.idempotency_key == key))
    assert found is not None, key
    return found


async def row_count(db: Database) -> int:
    async with db.uow() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(OutboxRow)) or 0)


def keys(batch: list[OutboxMessage]) -> list[str]:
    return [m.idempotency_key for m in batch]


# -- add ----------------------------------------------------------------------------------


async def test_add_is_idempotent_on_the_key(db: Database) -> None:
    assert await add(db, "k1") is True
    async with db.uow() as uow:
        again = await uow.outbox.add("other.kind", {"x": 1}, key="k1", now=at(5))
        assert uow.outbox.added == 0
        await uow.commit()
    assert again is False
    assert await row_count(db) == 1
    stored = await row(db, "k1")
    assert (stored.kind, stored.payload, stored.created_at) == ("test.kind", {"key": "k1"}, T0)
    assert (stored.status, stored.attempts, stored.next_attempt_at) == ("pending", 0, T0)


# -- claim_due ------------------------------------------------------------------------------


async def test_claim_returns_only_due_rows_earliest_first(db: Database) -> None:
    await add(db, "later", not_before=at(30))
    await add(db, "early", not_before=at(-20))
    await add(db, "now")
    await add(db, "future", not_before=at(3600))
    lease = timedelta(days=1)  # claimed rows stay claimed throughout

    assert await claim(db, now=at(-30)) == []
    # limit 1 picks the earliest due row, not the lowest id.
    assert keys(await claim(db, now=T0, limit=1, lease=lease)) == ["early"]
    assert keys(await claim(db, now=T0, lease=lease)) == ["now"]
    assert keys(await claim(db, now=at(30), lease=lease)) == ["later"]
    assert await claim(db, now=at(3599), lease=lease) == []
    batch = await claim(db, now=at(3600), lease=lease)
    assert keys(batch) == ["future"]
    assert batch[0].payload == {"key": "future"}
    assert batch[0].kind == "test.kind"


async def test_claim_returns_a_batch_in_id_order(db: Database) -> None:
    for n in range(5):
        await add(db, f"k{n}", not_before=at(-n))  # later ids are due earlier
    batch = await claim(db, now=T0)
    assert [m.id for m in batch] == sorted(m.id for m in batch)
    assert sorted(keys(batch)) == [f"k{n}" for n in range(5)]
    assert len({m.claim for m in batch}) == 1


async def test_a_claimed_row_is_not_claimed_again_until_its_lease_expires(db: Database) -> None:
    await add(db, "k")
    first = await claim(db, now=T0, lease=timedelta(seconds=60))
    assert keys(first) == ["k"]
    assert await claim(db, now=at(1)) == []
    assert await claim(db, now=at(59)) == []
    assert await claim(db, now=at(60)) == []  # the lease runs until T0+60 inclusive
    second = await claim(db, now=at(61))
    assert keys(second) == ["k"]
    assert second[0].claim != first[0].claim
    # The first worker's lease is gone: its late outcome must not land.
    async with db.uow() as uow:
        assert await uow.outbox.mark_done(first[0], now=at(62)) is False
        await uow.commit()
    assert (await row(db, "k")).status == "pending"


async def test_attempts_are_counted_at_claim(db: Database) -> None:
    await add(db, "k")
    assert (await row(db, "k")).attempts == 0
    first = await claim(db, now=T0)
    assert first[0].attempts == 1
    assert (await row(db, "k")).attempts == 1
    # A worker crashes without recording anything; the lease runs out, the row is claimed
    # again and the lost attempt still counts.
    second = await claim(db, now=T0 + LEASE + timedelta(seconds=1))
    assert second[0].attempts == 2
    stored = await row(db, "k")
    assert stored.attempts == 2
    assert stored.locked_by == second[0].claim
    assert stored.locked_until == T0 + LEASE + timedelta(seconds=1) + LEASE


# limit 200 covers every row (the brief's case); 7 makes the claimers interleave many times.
@pytest.mark.parametrize("limit", [200, 7])
async def test_concurrent_claimers_never_share_a_row_and_get_them_all(
    db: Database, limit: int
) -> None:
    total = 200
    async with db.uow() as uow:
        for n in range(total):
            await uow.outbox.add("test.kind", {"n": n}, key=f"k{n:03}", now=T0)
        await uow.commit()

    async def claimer() -> list[int]:
        got: list[int] = []
        while True:
            async with db.uow() as uow:
                batch = await uow.outbox.claim_due(now=T0, limit=limit, lease=LEASE)
                await uow.commit()
            if not batch:
                return got
            got.extend(m.id for m in batch)
            await asyncio.sleep(0)

    results: list[list[int]] = []
    splits: list[tuple[int, int]] = []
    for _ in range(3):  # a few rounds, to give an interleaving a chance
        first, second = await asyncio.gather(claimer(), claimer())
        results.append(first + second)
        assert not set(first) & set(second)
        splits.append((len(first), len(second)))
        assert len(first) + len(second) == total
        assert len(set(first + second)) == total
        # Release everything again for the next round.
        async with db.uow() as uow:
            await uow.session.execute(update(OutboxRow).values(locked_by=None, locked_until=None))
            await uow.commit()
    assert all(sorted(r) == sorted(results[0]) for r in results)
    if limit < total:  # small batches: the two claimers really did take turns
        assert any(a and b for a, b in splits), splits


# -- ordering keys ----------------------------------------------------------------------------


async def _ordered_rows(db: Database) -> None:
    await add(db, "A1", ordering_key="A")
    await add(db, "A2", ordering_key="A")
    await add(db, "B1", ordering_key="B")


async def test_a_row_waits_for_the_earlier_row_of_its_ordering_key(db: Database) -> None:
    await _ordered_rows(db)
    batch = await claim(db, now=T0)
    assert keys(batch) == ["A1", "B1"]
    a1 = batch[0]
    # Still blocked while A1 is claimed (pending, leased).
    assert await claim(db, now=at(1)) == []
    async with db.uow() as uow:
        assert await uow.outbox.mark_done(a1, now=at(2)) is True
        await uow.commit()
    assert keys(await claim(db, now=at(2))) == ["A2"]


async def test_a_row_stays_blocked_while_the_earlier_one_is_retrying(db: Database) -> None:
    await _ordered_rows(db)
    a1 = (await claim(db, now=T0, limit=1))[0]
    assert a1.idempotency_key == "A1"
    async with db.uow() as uow:
        await uow.outbox.mark_retry(a1, now=at(1), next_attempt_at=at(100), error="boom")
        await uow.commit()
    # A1 waits for its retry; A2 must not overtake it. B1 is independent.
    assert keys(await claim(db, now=at(2), lease=timedelta(days=1))) == ["B1"]
    assert await claim(db, now=at(50)) == []
    assert keys(await claim(db, now=at(100))) == ["A1"]


async def test_rows_without_an_ordering_key_do_not_block_each_other(db: Database) -> None:
    await add(db, "x1")
    await add(db, "x2")
    assert keys(await claim(db, now=T0)) == ["x1", "x2"]


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

    async with db.uow() as uow:
        live_id = (await row(db, "live")).id
        assert await uow.outbox.revive(live_id, now=at(5)) is False  # not dead
        assert await uow.outbox.revive(10_000, now=at(5)) is False  # no such row
        assert await uow.outbox.revive(dead_id, now=at(5)) is True
        assert uow.outbox.added == 1
        await uow.commit()
    stored = await row(db, "k")
    assert (stored.status, stored.attempts, stored.next_attempt_at) == ("pending", 0, at(5))
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
    async with db.uow() as uow:
        assert await uow.outbox.add("test.kind", {}, key="k", now=T0) is True
    assert await row_count(db) == 0

    async with db.uow() as uow:
        await uow.outbox.add("test.kind", {}, key="k", now=T0)
        await uow.rollback()
    assert await row_count(db) == 0

    with pytest.raises(RuntimeError):
        async with db.uow() as uow:
            await uow.outbox.add("test.kind", {}, key="k", now=T0)
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

        async with db.uow() as uow:  # committed, a duplicate only
            await add(db, "dup")
            calls.clear()
            assert await uow.outbox.add("test.kind", {}, key="dup", now=T0) is False
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
