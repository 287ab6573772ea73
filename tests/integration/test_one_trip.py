"""Transactions run in one trip (storage/one_trip.py), on every backend: committed
together, rolled back together, and taking turns with units of work."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import Connection, func, select
from sqlalchemy.exc import IntegrityError

from storage.db import Database
from storage.handoffs import insert_new_handoffs
from storage.models import Handoff, HandoffEvent, OutboxRow
from storage.outbox import OutboxBuffer, insert_rows
from tests.support.handoff_rows import T0, handoff_values


def values(n: int) -> dict[str, Any]:
    return handoff_values(n, version=1)


async def outbox_rows(n: int) -> list[dict[str, Any]]:
    buffer = OutboxBuffer()
    await buffer.add("test.kind", {"n": n}, key=f"k:{n}", now=T0)
    return buffer.rows


async def counts(db: Database) -> tuple[int, int, int]:
    async with db.reads() as uow:
        return (
            int(await uow.session.scalar(select(func.count()).select_from(Handoff)) or 0),
            int(await uow.session.scalar(select(func.count()).select_from(HandoffEvent)) or 0),
            int(await uow.session.scalar(select(func.count()).select_from(OutboxRow)) or 0),
        )


async def test_handoffs_events_and_outbox_rows_commit_together(db: Database) -> None:
    rows = await outbox_rows(1)

    def write(conn: Connection) -> tuple[dict[str, int], int]:
        created = insert_new_handoffs(conn, [values(1), values(2), values(1)])
        return created, insert_rows(conn, rows + rows)

    created, written = await db.in_one_trip(write)
    assert sorted(created) == ["sess-1:esc-1", "sess-2:esc-1"]  # the repeat once
    assert written > 0  # wakes the dispatcher (asyncpg may count the skipped one too)
    assert await counts(db) == (2, 2, 1)  # the same idempotency key twice: one row

    again, _ = await db.in_one_trip(lambda conn: (insert_new_handoffs(conn, [values(1)]), 0))
    assert again == {}  # stored already: nothing new, no second event
    assert await counts(db) == (2, 2, 1)


async def test_a_failure_rolls_everything_back(db: Database) -> None:
    rows = await outbox_rows(1)

    def write(conn: Connection) -> None:
        insert_new_handoffs(conn, [values(1)])
        insert_rows(conn, rows)
        duplicate = {**values(2), "reference": "HD-0001"}  # reference is unique
        insert_new_handoffs(conn, [duplicate])

    with pytest.raises(IntegrityError):
        await db.in_one_trip(write)
    assert await counts(db) == (0, 0, 0)


async def test_one_trip_writes_take_turns_with_units_of_work(db: Database) -> None:
    async def by_trip(n: int) -> None:
        await db.in_one_trip(lambda conn: insert_new_handoffs(conn, [values(n)]))

    async def by_unit_of_work(n: int) -> None:
        async with db.uow() as uow:
            await uow.handoffs.insert_new(values(n))
            await uow.commit()

    await asyncio.gather(
        *(by_trip(n) for n in range(0, 40, 2)), *(by_unit_of_work(n) for n in range(1, 40, 2))
    )
    handoffs, events, _ = await counts(db)
    assert (handoffs, events) == (40, 20)  # the units of work wrote no event


async def test_checkpoint_copies_the_log_on_sqlite_only(db: Database) -> None:
    await db.in_one_trip(lambda conn: insert_new_handoffs(conn, [values(n) for n in range(50)]))
    pages = await db.checkpoint()
    if db.dialect != "sqlite":
        assert pages is None
        return
    assert pages is not None
    in_log, copied = pages
    assert in_log > 0 and copied == in_log


async def test_a_one_trip_write_inside_a_unit_of_work_never_hangs(db: Database) -> None:
    def write(conn: Connection) -> dict[str, int]:
        return insert_new_handoffs(conn, [values(1)])

    async with db.uow():
        if db.dialect == "sqlite":  # one writer: it would wait for itself, so it refuses
            with pytest.raises(RuntimeError, match="inside another one"):
                await asyncio.wait_for(db.in_one_trip(write), 5)
        else:  # a pool of connections: it simply runs
            assert list(await asyncio.wait_for(db.in_one_trip(write), 5)) == ["sess-1:esc-1"]
