"""The built-in ticketing system: tickets live in deskhand's own database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from integrations.errors import NotFound
from integrations.ticketing.protocol import Assignee, NewTicket, TicketRef, TicketStatus
from integrations.ticketing.render import plain_description
from storage.db import Database


class LocalTicketing:
    system = "local"

    def __init__(self, db: Database, *, now: Callable[[], datetime]) -> None:
        self._db = db
        self._now = now

    async def create_ticket(self, ticket: NewTicket, *, idempotency_key: str) -> TicketRef:
        async with self._db.uow() as uow:
            row = await uow.tickets.create(
                idempotency_key=idempotency_key,
                external_id=ticket.external_conversation_id,
                subject=ticket.subject,
                description=plain_description(ticket),
                priority=ticket.priority.value,
                assignee=ticket.assignee.slack_user_id if ticket.assignee else None,
                requester_email=ticket.requester.email,
                extra={"handoff_id": ticket.handoff_id, **ticket.metadata},
                now=self._now(),
            )
            await uow.commit()
        assert row.key is not None
        return TicketRef(system=self.system, id=row.key)

    async def assign(self, ticket_id: str, assignee: Assignee) -> None:
        await self._set(ticket_id, assignee=assignee.slack_user_id)

    async def unassign(self, ticket_id: str) -> None:
        await self._set(ticket_id, assignee=None)

    async def set_status(self, ticket_id: str, status: TicketStatus) -> None:
        await self._set(ticket_id, status=status.value)

    async def add_comment(
        self, ticket_id: str, body: str, *, public: bool, author: str | None, idempotency_key: str
    ) -> None:
        async with self._db.uow() as uow:
            ticket = await uow.tickets.get(ticket_id)
            if ticket is None:
                raise NotFound(self.system, f"no local ticket {ticket_id}", status=404)
            await uow.tickets.add_comment(
                ticket,
                idempotency_key=idempotency_key,
                body=body,
                public=public,
                author=author,
                now=self._now(),
            )
            await uow.commit()

    async def _set(self, ticket_id: str, **values: object) -> None:
        async with self._db.uow() as uow:
            if not await uow.tickets.set_fields(ticket_id, {**values, "updated_at": self._now()}):
                raise NotFound(self.system, f"no local ticket {ticket_id}", status=404)
            await uow.commit()
