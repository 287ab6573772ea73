"""The transactional outbox: rows written with a state change, delivered after commit.

Attempts are counted when a row is claimed (effects look for an earlier attempt's
output on any attempt after the first). A claim is a lease: a crashed worker's rows come
back once the lease runs out. A row is given up on by time, from `first_due_at`
(bot/outbox/dispatcher.py), never for a number of attempts.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.limits import fit_key
from storage.models import OutboxRow
from storage.upsert import insert_ignore_many, insert_ignore_statement

PENDING, DONE, DEAD = "pending", "done", "dead"
# Why a pending row waits after a failure (OutboxRow.wait_reason).
OUTAGE, CRASH, RATE_LIMIT = "outage", "crash", "rate_limit"


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    kind: str
    payload: dict[str, Any]
    idempotency_key: str
    ordering_key: str | None
    attempts: int
    created_at: datetime
    claim: str
    # The give-up clock starts here; transient failures so far (the backoff exponent).
    first_due_at: datetime
    failures: int = 0


@dataclass(frozen=True)
class OutboxStats:
    pending: int
    dead: int
    oldest_pending_at: datetime | None


@dataclass(frozen=True)
class DeadLetter:
    id: int
    kind: str
    idempotency_key: str
    attempts: int
    last_error: str | None
    updated_at: datetime  # when it became a dead letter
    first_due_at: datetime | None = None


class OutboxBuffer:
    """Rows queued for one transaction, written together when it commits."""

    def __init__(self) -> None:
        self._pending: list[dict[str, Any]] = []

    async def add(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        key: str,
        now: datetime,
        ordering_key: str | None = None,
        not_before: datetime | None = None,
    ) -> None:
        """Queue a row, written with the others at flush (commit); a row already queued
        under the same idempotency key wins."""
        self._pending.append(
            {
                "kind": kind,
                "payload": payload,
                # Keys are composed of ids of up to 200 characters each: fitted to the
                # column, the same way every time (storage/limits.py).
                "idempotency_key": fit_key(key),
                "ordering_key": None if ordering_key is None else fit_key(ordering_key),
                "status": PENDING,
                "attempts": 0,
                "next_attempt_at": not_before or now,
                "first_due_at": not_before or now,
                "failures": 0,
                "wait_reason": None,
                "created_at": now,
                "updated_at": now,
                "locked_by": None,
                "locked_until": None,
                "last_error": None,
                "done_at": None,
            }
        )

    @property
    def rows(self) -> list[dict[str, Any]]:
        return list(self._pending)


def insert_rows(conn: Connection, rows: list[dict[str, Any]]) -> int:
    """Write queued rows in a synchronous transaction (storage/one_trip.py): how many
    were new (a duplicate idempotency key is skipped)."""
    if not rows:
        return 0
    stmt = insert_ignore_statement(conn.dialect.name, OutboxRow, ["idempotency_key"])
    inserted = conn.execute(stmt, rows).rowcount
    return inserted if inserted >= 0 else len(rows)


class OutboxRepository(OutboxBuffer):
    def __init__(self, session: AsyncSession) -> None:
        super().__init__()
        self._session = session
        self.added = 0  # rows written in this unit of work: wake the dispatcher on commit

    async def flush(self) -> None:
        """Write the queued rows: one multi-row statement, not one round trip each."""
        if not self._pending:
            return
        rows, self._pending = self._pending, []
        result = await self._session.execute(
            insert_ignore_many(self._session, OutboxRow, ["idempotency_key"]), rows
        )
        # Rows inserted (duplicates are skipped); a driver that cannot tell counts them all.
        inserted = getattr(result, "rowcount", -1)
        self.added += inserted if inserted >= 0 else len(rows)

    def discard(self) -> None:
        """Forget rows queued since the last flush (the transaction rolls back)."""
        self._pending = []
        self.added = 0

    async def claim_due(
        self, *, now: datetime, limit: int, lease: timedelta
    ) -> list[OutboxMessage]:
        await self.flush()
        earlier = aliased(OutboxRow)
        # A row waits while an earlier row of its ordering key is still pending.
        blocked = exists().where(
            earlier.ordering_key == OutboxRow.ordering_key,
            earlier.status == PENDING,
            earlier.id < OutboxRow.id,
        )
        due = (
            select(OutboxRow.id)
            .where(
                OutboxRow.status == PENDING,
                OutboxRow.next_attempt_at <= now,
                or_(OutboxRow.locked_until.is_(None), OutboxRow.locked_until < now),
                or_(OutboxRow.ordering_key.is_(None), ~blocked),
            )
            .order_by(OutboxRow.next_attempt_at, OutboxRow.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        claim = uuid.uuid4().hex
        await self._session.execute(
            update(OutboxRow)
            .where(OutboxRow.id.in_(due.scalar_subquery()))
            .values(
                locked_by=claim,
                locked_until=now + lease,
                attempts=OutboxRow.attempts + 1,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        rows = await self._session.scalars(
            select(OutboxRow).where(OutboxRow.locked_by == claim).order_by(OutboxRow.id)
        )
        return [
            OutboxMessage(
                id=row.id,
                kind=row.kind,
                payload=row.payload,
                idempotency_key=row.idempotency_key,
                ordering_key=row.ordering_key,
                attempts=row.attempts,
                created_at=row.created_at,
                claim=claim,
                first_due_at=row.first_due_at or row.created_at,
                failures=row.failures,
            )
            for row in rows
        ]

    async def mark_done(self, message: OutboxMessage, *, now: datetime) -> bool:
        return await self._finish(message, now=now, status=DONE, done_at=now, last_error=None)

    async def mark_done_many(self, messages: list[OutboxMessage], *, now: datetime) -> None:
        """Several rows delivered: one statement (each still only under its own claim)."""
        await self._session.execute(
            update(OutboxRow)
            .where(
                OutboxRow.id.in_([m.id for m in messages]),
                OutboxRow.locked_by.in_({m.claim for m in messages}),
            )
            .values(
                status=DONE,
                done_at=now,
                last_error=None,
                wait_reason=None,
                locked_by=None,
                locked_until=None,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )

    async def mark_retry(
        self,
        message: OutboxMessage,
        *,
        now: datetime,
        next_attempt_at: datetime,
        error: str,
        reason: str = OUTAGE,
        counts: bool = True,
    ) -> bool:
        """Try again at ``next_attempt_at``; ``counts``: the failure advances the backoff
        (a 429 does not); ``reason``: what may make the row due earlier (wait_reason)."""
        return await self._finish(
            message,
            now=now,
            status=PENDING,
            next_attempt_at=next_attempt_at,
            last_error=error,
            wait_reason=reason,
            failures=message.failures + int(counts),
        )

    async def mark_dead(self, message: OutboxMessage, *, now: datetime, error: str) -> bool:
        return await self._finish(message, now=now, status=DEAD, last_error=error, wait_reason=None)

    async def defer(self, message: OutboxMessage, *, now: datetime, until: datetime) -> bool:
        """Not ready yet (waiting on another row): try later without spending an attempt."""
        return await self._finish(
            message,
            now=now,
            status=PENDING,
            next_attempt_at=until,
            attempts=OutboxRow.attempts - 1,
            wait_reason=None,
        )

    async def bring_forward(
        self, *, now: datetime, reasons: tuple[str, ...], kinds: tuple[str, ...] | None = None
    ) -> int:
        """Rows waiting after a failure for one of ``reasons`` (of ``kinds``, or all) are
        due now: their destination answers again, or the bot restarted. One statement;
        a row being delivered (locked) is left to its worker."""
        await self.flush()
        stmt = update(OutboxRow).where(
            OutboxRow.status == PENDING,
            OutboxRow.wait_reason.in_(list(reasons)),
            OutboxRow.next_attempt_at > now,
            OutboxRow.locked_by.is_(None),
        )
        if kinds is not None:
            stmt = stmt.where(OutboxRow.kind.in_(list(kinds)))
        result = await self._session.execute(
            stmt.values(next_attempt_at=now).execution_options(synchronize_session=False)
        )
        moved = int(getattr(result, "rowcount", 0) or 0)
        self.added += moved
        return moved

    async def _finish(self, message: OutboxMessage, *, now: datetime, **values: Any) -> bool:
        result = await self._session.execute(
            update(OutboxRow)
            .where(OutboxRow.id == message.id, OutboxRow.locked_by == message.claim)
            .values(locked_by=None, locked_until=None, updated_at=now, **values)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))

    async def stats(self) -> OutboxStats:
        await self.flush()
        rows = await self._session.execute(
            select(OutboxRow.status, func.count())
            .where(OutboxRow.status.in_([PENDING, DEAD]))
            .group_by(OutboxRow.status)
        )
        counts: dict[str, int] = {status: count for status, count in rows}
        oldest = await self._session.scalar(
            select(func.min(OutboxRow.created_at)).where(OutboxRow.status == PENDING)
        )
        return OutboxStats(
            pending=counts.get(PENDING, 0), dead=counts.get(DEAD, 0), oldest_pending_at=oldest
        )

    async def count_queued(self, kind: str, *, since: datetime) -> int:
        """Rows of ``kind`` queued from ``since`` on, whatever became of them."""
        await self.flush()
        count = await self._session.scalar(
            select(func.count())
            .select_from(OutboxRow)
            .where(OutboxRow.kind == kind, OutboxRow.created_at >= since)
        )
        return int(count or 0)

    async def dead_letters(
        self, *, limit: int | None = 20, since: datetime | None = None
    ) -> list[DeadLetter]:
        """Dead letters, the most recent first; ``since``: those that died from then on."""
        await self.flush()
        stmt = select(OutboxRow).where(OutboxRow.status == DEAD)
        if since is not None:
            stmt = stmt.where(OutboxRow.updated_at >= since)
        stmt = stmt.order_by(OutboxRow.updated_at.desc(), OutboxRow.id.desc())
        rows = await self._session.scalars(stmt if limit is None else stmt.limit(limit))
        return [
            DeadLetter(
                r.id,
                r.kind,
                r.idempotency_key,
                r.attempts,
                r.last_error,
                r.updated_at,
                r.first_due_at or r.created_at,
            )
            for r in rows
        ]

    async def statuses(self, row_ids: list[int]) -> dict[int, str]:
        """The status of each of ``row_ids`` that exists."""
        rows = await self._session.execute(
            select(OutboxRow.id, OutboxRow.status).where(OutboxRow.id.in_(row_ids))
        )
        return {row_id: status for row_id, status in rows}

    async def revive(self, row_id: int, *, now: datetime) -> bool:
        """Send a dead letter round again (an operator's manual retry)."""
        return bool(await self.revive_many([row_id], now=now))

    async def revive_many(self, row_ids: list[int] | None, *, now: datetime) -> list[int]:
        """Queue dead letters again (``None``: every one): pending, due now, the give-up
        clock and the backoff restarted. A compare-and-set on status: a row that is not
        dead is left alone (it is not in the answer). Attempts are kept, so effects still
        look for what an earlier attempt may have done before doing it again."""
        await self.flush()
        stmt = update(OutboxRow).where(OutboxRow.status == DEAD)
        if row_ids is not None:
            stmt = stmt.where(OutboxRow.id.in_(row_ids))
        result = await self._session.execute(
            stmt.values(
                status=PENDING,
                next_attempt_at=now,
                first_due_at=now,
                failures=0,
                wait_reason=None,
                updated_at=now,
            )
            .returning(OutboxRow.id)
            .execution_options(synchronize_session=False)
        )
        revived = sorted(result.scalars())
        self.added += len(revived)
        return revived

    async def prune(self, *, done_before: datetime) -> int:
        result = await self._session.execute(
            delete(OutboxRow)
            .where(OutboxRow.status == DONE, OutboxRow.done_at < done_before)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0))
