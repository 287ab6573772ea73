"""Approval requests and their audit trail. Every decision is a compare-and-set on
(status, version): of two clicks, one changes the row."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Approval, ApprovalEvent
from storage.upsert import insert_ignore_many

_INSERT_EVENT = insert(ApprovalEvent.__table__).returning(  # type: ignore[arg-type]
    ApprovalEvent.__table__.c.id
)


class ApprovalRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def insert_new(self, values: dict[str, Any]) -> int | None:
        """Insert unless the request_id is stored: the new primary key, or None."""
        stmt = insert_ignore_many(self._session, Approval, ["request_id"], returning=["id"])
        pk: int | None = await self._session.scalar(stmt, values)
        return pk

    async def get(self, request_id: str, *, fresh: bool = False) -> Approval | None:
        """``fresh``: overwrite what this session loaded before (after a compare-and-set)."""
        stmt = select(Approval).where(Approval.request_id == request_id)
        if fresh:
            stmt = stmt.execution_options(populate_existing=True)
        return await self._session.scalar(stmt)

    async def transition(
        self,
        request_id: str,
        *,
        from_statuses: Sequence[str],
        values: dict[str, Any],
        version: int | None = None,
    ) -> bool:
        """Apply ``values`` only if the request is still in one of ``from_statuses`` (and,
        when given, still at ``version``). Of two racing callers one wins."""
        stmt = update(Approval).where(
            Approval.request_id == request_id, Approval.status.in_(list(from_statuses))
        )
        if version is not None:
            stmt = stmt.where(Approval.version == version)
        result = await self._session.execute(
            stmt.values(version=Approval.version + 1, **values).execution_options(
                synchronize_session=False
            )
        )
        return bool(getattr(result, "rowcount", 0))

    async def update(self, request_id: str, values: dict[str, Any]) -> None:
        await self._session.execute(
            update(Approval)
            .where(Approval.request_id == request_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )

    async def add_event(
        self,
        approval_pk: int,
        kind: str,
        *,
        at: datetime,
        source: str,
        actor_id: str | None = None,
        actor_name: str | None = None,
        detail: str | None = None,
    ) -> int:
        """Record one audit step; its id (threads and notices are keyed on it)."""
        event_id = await self._session.scalar(
            _INSERT_EVENT,
            {
                "approval_pk": approval_pk,
                "kind": kind,
                "actor_id": actor_id,
                "actor_name": actor_name,
                "source": source,
                "detail": detail,
                "at": at,
            },
        )
        return int(event_id)

    async def events(self, approval_pk: int) -> list[ApprovalEvent]:
        rows = await self._session.scalars(
            select(ApprovalEvent)
            .where(ApprovalEvent.approval_pk == approval_pk)
            .order_by(ApprovalEvent.id)
        )
        return list(rows)

    async def event(self, event_id: int) -> ApprovalEvent | None:
        return await self._session.get(ApprovalEvent, event_id)

    async def due_escalation(self, now: datetime, *, limit: int = 100) -> list[str]:
        rows = await self._session.scalars(
            select(Approval.request_id)
            .where(
                Approval.status == "pending",
                Approval.escalated_at.is_(None),
                Approval.escalate_at.is_not(None),
                Approval.escalate_at <= now,
            )
            .order_by(Approval.escalate_at)
            .limit(limit)
        )
        return list(rows)

    async def due_expiry(self, now: datetime, *, limit: int = 100) -> list[str]:
        rows = await self._session.scalars(
            select(Approval.request_id)
            .where(Approval.status == "pending", Approval.expires_at <= now)
            .order_by(Approval.expires_at)
            .limit(limit)
        )
        return list(rows)

    async def pending(self, *, limit: int = 20) -> list[Approval]:
        rows = await self._session.scalars(
            select(Approval)
            .where(Approval.status == "pending")
            .order_by(Approval.created_at)
            .limit(limit)
        )
        return list(rows)

    async def recent(self, *, limit: int = 10) -> list[Approval]:
        rows = await self._session.scalars(
            select(Approval)
            .where(Approval.status != "pending")
            .order_by(Approval.updated_at.desc())
            .limit(limit)
        )
        return list(rows)
