"""Tickets of the built-in `local` ticketing system."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Ticket, TicketComment
from storage.upsert import insert_ignore


class TicketRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def create(
        self,
        *,
        idempotency_key: str,
        external_id: str | None,
        subject: str,
        description: str,
        priority: str,
        assignee: str | None,
        requester_email: str | None,
        extra: dict[str, Any],
        now: datetime,
    ) -> Ticket:
        """Create once per idempotency key; a repeat returns the first ticket."""
        await self._session.execute(
            insert_ignore(
                self._session,
                Ticket,
                {
                    "idempotency_key": idempotency_key,
                    "external_id": external_id,
                    "subject": subject,
                    "description": description,
                    "priority": priority,
                    "status": "open",
                    "assignee": assignee,
                    "requester_email": requester_email,
                    "extra": extra,
                    "created_at": now,
                    "updated_at": now,
                },
                ["idempotency_key"],
            )
        )
        ticket = await self._session.scalar(
            select(Ticket).where(Ticket.idempotency_key == idempotency_key)
        )
        assert ticket is not None
        if ticket.key is None:
            # A short, sayable id derived from the sequence: LOC-1042.
            ticket.key = f"LOC-{1000 + ticket.id}"
            await self._session.flush()
        return ticket

    async def get(self, key: str) -> Ticket | None:
        return await self._session.scalar(select(Ticket).where(Ticket.key == key))

    async def set_fields(self, key: str, values: dict[str, Any]) -> bool:
        result = await self._session.execute(
            update(Ticket)
            .where(Ticket.key == key)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))

    async def add_comment(
        self,
        ticket: Ticket,
        *,
        idempotency_key: str,
        body: str,
        public: bool,
        author: str | None,
        now: datetime,
    ) -> bool:
        result = await self._session.execute(
            insert_ignore(
                self._session,
                TicketComment,
                {
                    "ticket_pk": ticket.id,
                    "idempotency_key": idempotency_key,
                    "body": body,
                    "public": public,
                    "author": author,
                    "created_at": now,
                },
                ["idempotency_key"],
            )
        )
        return bool(getattr(result, "rowcount", 0))

    async def comments(self, ticket: Ticket) -> list[TicketComment]:
        rows = await self._session.scalars(
            select(TicketComment)
            .where(TicketComment.ticket_pk == ticket.id)
            .order_by(TicketComment.id)
        )
        return list(rows)
