"""Outbox effects that keep the ticketing system in step with each handoff."""

from __future__ import annotations

from typing import Any

import structlog

from bot.clock import Clock
from bot.handoffs import customer_text, effects
from bot.handoffs.mapping import ticket_info
from bot.handoffs.view import HandoffStatus
from bot.outbox.dispatcher import NotReady, Permanent
from bot.outbox.kinds import OutboxKind
from integrations.ticketing.protocol import (
    Assignee,
    EvidenceLink,
    NewTicket,
    Requester,
    Ticketing,
    TicketPriority,
    TicketStatus,
    Turn,
)
from storage.db import Database
from storage.models import Handoff
from storage.outbox import OutboxMessage

log = structlog.get_logger(__name__)


def new_ticket(handoff: Handoff) -> NewTicket:
    who = handoff.customer_name or handoff.customer_email or handoff.customer_id
    return NewTicket(
        handoff_id=handoff.handoff_id,
        reference=handoff.reference,
        external_conversation_id=handoff.session_id,
        subject=f"[{handoff.reference}] {who}: {handoff.summary[:120]}",
        summary=handoff.summary,
        reason=handoff.reason,
        priority=TicketPriority(handoff.priority),
        requester=Requester(
            external_id=handoff.customer_id,
            name=handoff.customer_name,
            email=handoff.customer_email,
        ),
        transcript=tuple(Turn(t["role"], t["text"], t.get("at")) for t in handoff.transcript),
        evidence=tuple(
            EvidenceLink(e["title"], e.get("url"), e.get("score")) for e in handoff.evidence
        ),
        suggested_questions=tuple(handoff.suggested_questions),
        intent=handoff.intent,
        department=handoff.department,
        metadata={"deskhand_reference": handoff.reference, "handoff_reason": handoff.reason},
    )


class TicketEffects:
    def __init__(self, db: Database, ticketing: Ticketing, *, clock: Clock) -> None:
        self._db = db
        self._ticketing = ticketing
        self._clock = clock

    def effects(self) -> dict[str, Any]:
        return {
            OutboxKind.TICKET_CREATE: self.create,
            OutboxKind.TICKET_ASSIGN: self.assign,
            OutboxKind.TICKET_UNASSIGN: self.unassign,
            OutboxKind.TICKET_COMMENT: self.comment,
            OutboxKind.TICKET_STATUS: self.status,
        }

    async def _handoff(self, message: OutboxMessage) -> Handoff:
        async with self._db.uow() as uow:
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
        if handoff.ticket_id is not None:
            return
        ref = await self._ticketing.create_ticket(
            new_ticket(handoff), idempotency_key=f"deskhand-handoff-{handoff.handoff_id}"
        )
        now = self._clock.now()
        async with self._db.uow() as uow:
            await uow.handoffs.update(
                handoff.handoff_id,
                {
                    "ticket_system": ref.system,
                    "ticket_id": ref.id,
                    "ticket_url": ref.url,
                    "version": Handoff.version + 1,
                    "updated_at": now,
                },
            )
            stored = await uow.handoffs.get(handoff.handoff_id)
            assert stored is not None
            await uow.handoffs.refresh(stored)
            await uow.handoffs.add_event(
                stored.id, "ticket_created", at=now, actor=None, detail=ref.id
            )
            await effects.refresh_message(uow, stored, now=now)
            if stored.status == HandoffStatus.QUEUED:
                await effects.tell_customer_status(
                    uow,
                    stored,
                    HandoffStatus.QUEUED,
                    message=customer_text.queued(stored.reference, ticket_info(stored)),
                    now=now,
                    key_suffix=":ticket",
                )
            await uow.commit()
        log.info(
            "ticket.created", handoff_id=handoff.handoff_id, ticket_id=ref.id, system=ref.system
        )

    async def assign(self, message: OutboxMessage) -> None:
        ticket_id = await self._ticket_id(message)
        p = message.payload
        await self._ticketing.assign(
            ticket_id, Assignee(slack_user_id=p["agent_id"], name=p.get("agent_name"))
        )

    async def unassign(self, message: OutboxMessage) -> None:
        await self._ticketing.unassign(await self._ticket_id(message))

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
