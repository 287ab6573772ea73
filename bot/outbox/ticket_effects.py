"""Outbox effects that keep the ticketing system in step with each handoff.

Creating the ticket goes through the fallback tree (bot/tickets/filing.py): an unreachable
system gives the handoff an offline reference and hands the retries to the fallback
sweep, so this row is done. A refused assignment is kept and retried the same way.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import structlog

from bot.clock import Clock
from bot.handoffs import effects
from bot.metrics import Metrics
from bot.outbox.dispatcher import NotReady, Permanent
from bot.outbox.kinds import OutboxKind
from bot.tickets.agents import AgentProfiles
from bot.tickets.filing import FallbackReason, TicketFiling
from integrations.errors import AssignmentRejected, Unavailable
from integrations.ticketing.protocol import Ticketing, TicketStatus
from storage.db import Database
from storage.fallbacks import ASSIGNMENT
from storage.models import Handoff
from storage.outbox import OutboxMessage

log = structlog.get_logger(__name__)


class TicketEffects:
    def __init__(
        self,
        db: Database,
        ticketing: Ticketing,
        filing: TicketFiling,
        profiles: AgentProfiles,
        *,
        clock: Clock,
        metrics: Metrics,
        assignment_retry_base: float,
    ) -> None:
        self._db = db
        self._ticketing = ticketing
        self._filing = filing
        self._profiles = profiles
        self._clock = clock
        self._metrics = metrics
        self._assignment_base = assignment_retry_base

    def effects(self) -> dict[str, Any]:
        return {
            OutboxKind.TICKET_CREATE: self.create,
            OutboxKind.TICKET_ASSIGN: self.assign,
            OutboxKind.TICKET_UNASSIGN: self.unassign,
            OutboxKind.TICKET_COMMENT: self.comment,
            OutboxKind.TICKET_STATUS: self.status,
        }

    async def _handoff(self, message: OutboxMessage) -> Handoff:
        async with self._db.reads() as uow:
            handoff = await uow.handoffs.get(message.payload["handoff_id"])
        if handoff is None:
            raise Permanent(f"handoff {message.payload['handoff_id']} is gone")
        return handoff

    async def _ticket_id(self, message: OutboxMessage) -> str:
        handoff = await self._handoff(message)
        if handoff.ticket_id is None:
            raise NotReady("the ticket does not exist yet", retry_in=30)
        return handoff.ticket_id

    async def create(self, message: OutboxMessage) -> None:
        handoff = await self._handoff(message)
        if handoff.offline_reference is not None and handoff.ticket_id is None:
            return  # offline already: the fallback sweep owns the retries
        try:
            await self._filing.file(handoff.handoff_id)
        except Unavailable as exc:
            await self._filing.go_offline(handoff.handoff_id, str(exc))

    async def assign(self, message: OutboxMessage) -> None:
        ticket_id = await self._ticket_id(message)
        p = message.payload
        agent_id = str(p["agent_id"])
        assignee = await self._profiles.assignee(agent_id, p.get("agent_name"))
        try:
            await self._ticketing.assign(ticket_id, assignee)
        except AssignmentRejected as exc:
            await self._assignment_failed(message, agent_id, str(exc))
            return
        await self._filing.record_assignee(message.payload["handoff_id"], agent_id)

    async def _assignment_failed(self, message: OutboxMessage, agent_id: str, error: str) -> None:
        """The ticket stays unassigned with everything on it; the sweep retries."""
        now = self._clock.now()
        handoff_id = message.payload["handoff_id"]
        async with self._db.uow() as uow:
            handoff = await uow.handoffs.get(handoff_id)
            assert handoff is not None
            await uow.fallbacks.open(
                handoff.id,
                ASSIGNMENT,
                reason=FallbackReason.ASSIGNMENT_FAILED,
                now=now,
                next_attempt_at=now + timedelta(seconds=self._assignment_base),
                agent_id=agent_id,
                error=error,
            )
            await uow.handoffs.update(
                handoff_id, {"version": Handoff.version + 1, "updated_at": now}
            )
            handoff = await uow.handoffs.reload(handoff_id)
            assert handoff is not None
            await effects.refresh_message(uow, handoff, now=now)
            await uow.commit()
        self._metrics.ticket_fallbacks.labels(reason=FallbackReason.ASSIGNMENT_FAILED).inc()
        log.warning(
            "ticket.assignment_failed",
            handoff_id=handoff_id,
            ticket_id=handoff.ticket_id,
            agent=agent_id,
            outbox_id=message.id,
            error=error,
        )

    async def unassign(self, message: OutboxMessage) -> None:
        await self._ticketing.unassign(await self._ticket_id(message))
        await self._filing.record_assignee(message.payload["handoff_id"], None)

    async def comment(self, message: OutboxMessage) -> None:
        ticket_id = await self._ticket_id(message)
        p = message.payload
        await self._ticketing.add_comment(
            ticket_id,
            p["body"],
            public=bool(p["public"]),
            author=p.get("author"),
            idempotency_key=message.idempotency_key,
        )

    async def status(self, message: OutboxMessage) -> None:
        ticket_id = await self._ticket_id(message)
        await self._ticketing.set_status(ticket_id, TicketStatus(message.payload["status"]))
