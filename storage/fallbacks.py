"""The fallback tree's stored branches: offline tickets, failed assignments, the queue.

The retry sweep claims due rows with a lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL;
SQLite has one writer), so replicas never retry the same ticket at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Handoff, TicketFallback
from storage.upsert import insert_ignore

PENDING, RESOLVED, DEAD = "pending", "resolved", "dead"
OFFLINE, ASSIGNMENT, QUEUE = "offline", "assignment", "queue"


@dataclass(frozen=True)
class DueFallback:
    id: int
    kind: str
    handoff_id: str
    attempts: int
    deadline: datetime | None
    agent_id: str | None
    created_at: datetime


@dataclass(frozen=True)
class FallbackEntry:
    """One line of ``/desk fallbacks``."""

    handoff_id: str
    reference: str
    kind: str
    reason: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    offline_reference: str | None
    created_at: datetime


class FallbackRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def open(
        self,
        handoff_pk: int,
        kind: str,
        *,
        reason: str,
        now: datetime,
        next_attempt_at: datetime | None,
        deadline: datetime | None = None,
        agent_id: str | None = None,
        error: str | None = None,
    ) -> None:
        """Start (or restart) this kind of fallback for the handoff."""
        values: dict[str, Any] = {
            "reason": reason,
            "status": PENDING,
            "next_attempt_at": next_attempt_at,
            "deadline": deadline,
            "agent_id": agent_id,
            "last_error": error,
            "locked_until": None,
            "updated_at": now,
            "resolved_at": None,
        }
        row = {"handoff_pk": handoff_pk, "kind": kind, "attempts": 0, "created_at": now}
        await self._session.execute(
            insert_ignore(self._session, TicketFallback, row | values, ["handoff_pk", "kind"])
        )
        await self._session.execute(
            update(TicketFallback)
            .where(TicketFallback.handoff_pk == handoff_pk, TicketFallback.kind == kind)
            .values(**values)
        )

    async def claim_due(self, *, now: datetime, limit: int, lease: timedelta) -> list[DueFallback]:
        """Due retries, oldest first, leased to the caller."""
        due = (
            select(TicketFallback.id)
            .where(
                TicketFallback.status == PENDING,
                TicketFallback.next_attempt_at <= now,
                or_(TicketFallback.locked_until.is_(None), TicketFallback.locked_until < now),
            )
            .order_by(TicketFallback.created_at, TicketFallback.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        ids = list(await self._session.scalars(due))
        if not ids:
            return []
        await self._session.execute(
            update(TicketFallback)
            .where(TicketFallback.id.in_(ids))
            .values(locked_until=now + lease, attempts=TicketFallback.attempts + 1)
        )
        rows = await self._session.execute(
            select(TicketFallback, Handoff.handoff_id)
            .join(Handoff, Handoff.id == TicketFallback.handoff_pk)
            .where(TicketFallback.id.in_(ids))
            .order_by(TicketFallback.created_at, TicketFallback.id)
        )
        return [
            DueFallback(f.id, f.kind, hid, f.attempts, f.deadline, f.agent_id, f.created_at)
            for f, hid in rows
        ]

    async def retry_later(
        self, fallback_id: int, *, now: datetime, at: datetime, error: str
    ) -> None:
        await self._set(fallback_id, next_attempt_at=at, updated_at=now, last_error=error[:2000])

    async def give_up(self, fallback_id: int, *, now: datetime, error: str) -> None:
        await self._set(fallback_id, status=DEAD, updated_at=now, last_error=error[:2000])

    async def resolve(self, handoff_pk: int, kind: str, *, now: datetime) -> bool:
        result = await self._session.execute(
            update(TicketFallback)
            .where(
                TicketFallback.handoff_pk == handoff_pk,
                TicketFallback.kind == kind,
                TicketFallback.status != RESOLVED,
            )
            .values(status=RESOLVED, resolved_at=now, updated_at=now, locked_until=None)
        )
        return bool(getattr(result, "rowcount", 0))

    async def hurry(self, kind: str, *, now: datetime) -> int:
        """Make every pending fallback of this kind due now (the system is back)."""
        result = await self._session.execute(
            update(TicketFallback)
            .where(
                TicketFallback.kind == kind,
                TicketFallback.status == PENDING,
                TicketFallback.next_attempt_at > now,
            )
            .values(next_attempt_at=now)
        )
        return int(getattr(result, "rowcount", 0))

    async def revive(
        self, handoff_pk: int, kind: str, *, now: datetime, deadline: datetime, by: str
    ) -> bool:
        """An operator's retry of a dead fallback: due now, with a fresh window."""
        result = await self._session.execute(
            update(TicketFallback)
            .where(
                TicketFallback.handoff_pk == handoff_pk,
                TicketFallback.kind == kind,
                TicketFallback.status == DEAD,
            )
            .values(
                status=PENDING,
                attempts=0,
                next_attempt_at=now,
                deadline=deadline,
                locked_until=None,
                retried_by=by,
                updated_at=now,
            )
        )
        return bool(getattr(result, "rowcount", 0))

    async def get(self, handoff_pk: int, kind: str) -> TicketFallback | None:
        return await self._session.scalar(
            select(TicketFallback).where(
                TicketFallback.handoff_pk == handoff_pk, TicketFallback.kind == kind
            )
        )

    async def set_alert(self, fallback_id: int, *, channel: str, ts: str) -> None:
        await self._session.execute(
            update(TicketFallback)
            .where(TicketFallback.id == fallback_id)
            .values(alert_channel=channel, alert_ts=ts)
        )

    async def of_handoff(self, handoff_pk: int) -> list[TicketFallback]:
        rows = await self._session.scalars(
            select(TicketFallback).where(TicketFallback.handoff_pk == handoff_pk)
        )
        return list(rows)

    async def listing(self, *, statuses: tuple[str, ...], limit: int = 20) -> list[FallbackEntry]:
        rows = await self._session.execute(
            select(TicketFallback, Handoff)
            .join(Handoff, Handoff.id == TicketFallback.handoff_pk)
            .where(TicketFallback.status.in_(statuses))
            .order_by(TicketFallback.created_at.desc())
            .limit(limit)
        )
        return [
            FallbackEntry(
                h.handoff_id,
                h.reference,
                f.kind,
                f.reason,
                f.status,
                f.attempts,
                f.next_attempt_at,
                f.last_error,
                h.offline_reference,
                f.created_at,
            )
            for f, h in rows
        ]

    async def count_pending(self) -> dict[str, int]:
        rows = await self._session.execute(
            select(TicketFallback.kind, func.count())
            .where(TicketFallback.status == PENDING)
            .group_by(TicketFallback.kind)
        )
        return {kind: int(n) for kind, n in rows}

    async def _set(self, fallback_id: int, **values: Any) -> None:
        await self._session.execute(
            update(TicketFallback)
            .where(TicketFallback.id == fallback_id)
            .values(locked_until=None, **values)
        )
