"""A handoff as a ticket for any ticketing system."""

from __future__ import annotations

from integrations.ticketing.protocol import (
    Assignee,
    EvidenceLink,
    NewTicket,
    Requester,
    TicketPriority,
    Turn,
)
from storage.models import Handoff


def new_ticket(
    handoff: Handoff, *, assignee: Assignee | None = None, fallback_reason: str | None = None
) -> NewTicket:
    who = handoff.customer_name or handoff.customer_email or handoff.customer_id
    metadata = {"deskhand_reference": handoff.reference, "handoff_reason": handoff.reason}
    if fallback_reason:
        metadata["fallback_reason"] = fallback_reason
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
        assignee=assignee,
        metadata=metadata,
    )
