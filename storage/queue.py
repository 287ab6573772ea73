"""The queue of handoffs waiting for an agent: unassigned, by priority then age."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Handoff

# Higher first: an urgent handoff waits behind urgent ones only.
_rank = case({"urgent": 0, "high": 1, "normal": 2, "low": 3}, value=Handoff.priority, else_=2)


@dataclass(frozen=True)
class Waiting:
    pk: int
    handoff_id: str
    position: int  # from 1: next to be served
    told_position: int | None
    told_at: datetime | None


class QueueRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def waiting(self) -> list[Waiting]:
        rows = await self._session.execute(
            select(Handoff.id, Handoff.handoff_id, Handoff.queue_position, Handoff.queue_told_at)
            .where(Handoff.status == "queued", Handoff.ticket_assignee.is_(None))
            .order_by(_rank, Handoff.created_at, Handoff.id)
        )
        return [
            Waiting(pk, hid, i, told, told_at)
            for i, (pk, hid, told, told_at) in enumerate(rows, start=1)
        ]

    async def position(self, handoff_id: str) -> int | None:
        """1 + how many wait ahead: a higher priority, or the same and older. One count,
        not the whole queue (this runs for every ticket filed)."""
        mine = await self._session.execute(
            select(_rank, Handoff.created_at, Handoff.id).where(
                Handoff.handoff_id == handoff_id,
                Handoff.status == "queued",
                Handoff.ticket_assignee.is_(None),
            )
        )
        row = mine.first()
        if row is None:
            return None
        rank, created_at, pk = row
        ahead = await self._session.scalar(
            select(func.count()).where(
                Handoff.status == "queued",
                Handoff.ticket_assignee.is_(None),
                or_(
                    _rank < rank,
                    and_(
                        _rank == rank,
                        or_(
                            Handoff.created_at < created_at,
                            and_(Handoff.created_at == created_at, Handoff.id < pk),
                        ),
                    ),
                ),
            )
        )
        return int(ahead or 0) + 1

    async def recent_claim_seconds(self, *, since: datetime, limit: int = 200) -> list[float]:
        rows = await self._session.execute(
            select(Handoff.created_at, Handoff.claimed_at)
            .where(Handoff.claimed_at.is_not(None), Handoff.claimed_at >= since)
            .order_by(Handoff.claimed_at.desc())
            .limit(limit)
        )
        return [
            max(0.0, (claimed - created).total_seconds())
            for created, claimed in rows
            if claimed is not None
        ]

    async def told(self, handoff_pk: int, position: int, *, now: datetime) -> None:
        await self._session.execute(
            update(Handoff)
            .where(Handoff.id == handoff_pk)
            .values(queue_position=position, queue_told_at=now)
        )
