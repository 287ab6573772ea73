"""The transactional outbox's storage contract, on every backend: adding and claiming.

Times are explicit (`now=` values derived from T0), so leases, retries and due times are
exercised without sleeping.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import update

from storage.db import Database
from storage.models import OutboxRow
from tests.support.outbox_rows import LEASE, T0, add, at, claim, keys, row, row_count

# -- add ----------------------------------------------------------------------------------


async def test_add_is_idempotent_on_the_key(db: Database) -> None:
    await add(db, "k1")
    async with db.uow() as uow:
        await uow.outbox.add("other.kind", {"x": 1}, key="k1", now=at(5))
        await uow.outbox.add("other.kind", {"x": 2}, key="k2", now=at(5))
        await uow.outbox.add("other.kind", {"x": 3}, key="k2", now=at(6))
        await uow.commit()
    assert await row_count(db) == 2
    assert (await row(db, "k2")).payload == {"x": 2}  # the first under a key wins
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
