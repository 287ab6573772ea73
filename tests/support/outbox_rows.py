"""Shared helpers for the outbox storage contract tests: fixed times and shortcuts for
adding, claiming and reading outbox rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from storage.db import Database
from storage.models import OutboxRow
from storage.outbox import OutboxMessage

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def add(
    db: Database,
    key: str,
    *,
    now: datetime = T0,
    ordering_key: str | None = None,
    not_before: datetime | None = None,
    kind: str = "test.kind",
) -> None:
    async with db.uow() as uow:
        await uow.outbox.add(
            kind,
            {"key": key},
            key=key,
            now=now,
            ordering_key=ordering_key,
            not_before=not_before,
        )
        await uow.commit()


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
