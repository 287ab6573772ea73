"""Two-way ticket sync: events already applied, and each system's polling cursor."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import SyncCursor, TicketSyncEvent
from storage.upsert import insert_ignore


class TicketSyncRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def first_time(self, system: str, event_id: str, *, now: datetime) -> bool:
        """Record the event; False when it was applied before (a retry, or seen by
        webhook and then by polling)."""
        result = await self._session.execute(
            insert_ignore(
                self._session,
                TicketSyncEvent,
                {"system": system, "event_id": event_id, "received_at": now},
                ["system", "event_id"],
            )
        )
        return bool(getattr(result, "rowcount", 0))

    async def seen(self, system: str, event_id: str) -> bool:
        found = await self._session.scalar(
            select(TicketSyncEvent.event_id).where(
                TicketSyncEvent.system == system, TicketSyncEvent.event_id == event_id
            )
        )
        return found is not None

    async def cursor(self, system: str) -> str | None:
        return await self._session.scalar(
            select(SyncCursor.cursor).where(SyncCursor.system == system)
        )

    async def save_cursor(self, system: str, cursor: str, *, now: datetime) -> None:
        await self._session.execute(
            insert_ignore(
                self._session,
                SyncCursor,
                {"system": system, "cursor": cursor, "updated_at": now},
                ["system"],
            )
        )
        await self._session.execute(
            update(SyncCursor)
            .where(SyncCursor.system == system)
            .values(cursor=cursor, updated_at=now)
        )
