"""From stored rows to views and outbound payloads."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.handoffs.view import (
    EvidenceItem,
    HandoffStatus,
    HandoffView,
    Priority,
    TicketInfo,
    TranscriptTurn,
)
from storage.models import Handoff, HandoffEvent

_CROCKFORD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "ABCDEFGHJKMNPQRSTVWXYZ0123456789")


def reference_for(handoff_id: str) -> str:
    """A short, sayable reference derived from the handoff id (no lookup needed)."""
    digest = hashlib.sha256(handoff_id.encode()).digest()
    code = base64.b32encode(digest).decode().translate(_CROCKFORD)[:8]
    return f"DH-{code}"


def message_marker(handoff_id: str, part: str = "msg") -> str:
    """A block_id that finds a message already posted for this handoff (well under 255)."""
    handoff = hashlib.sha256(handoff_id.encode()).hexdigest()[:20]
    which = hashlib.sha256(part.encode()).hexdigest()[:12]
    return f"dh:{handoff}:{which}"


def _dt(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def ticket_info(handoff: Handoff) -> TicketInfo | None:
    if handoff.ticket_system is None:
        return None
    return TicketInfo(
        system=handoff.ticket_system,
        id=handoff.ticket_id,
        url=handoff.ticket_url,
        offline_reference=handoff.offline_reference,
    )


def describe_event(event: HandoffEvent) -> str:
    actor = f"<@{event.actor}>" if event.actor else "deskhand"
    when = event.at.strftime("%H:%M UTC")
    verbs = {
        "received": "Received from the chatbot",
        "claimed": f"Claimed by {actor}",
        "released": f"Released by {actor}",
        "resolved": f"Resolved by {actor}",
        "returned_to_bot": f"Handed back to the bot by {actor}",
        "ticket_created": "Ticket created",
    }
    return f"{verbs.get(event.kind, event.kind)} at {when}"


def to_view(handoff: Handoff, events: Sequence[HandoffEvent] = ()) -> HandoffView:
    return HandoffView(
        handoff_id=handoff.handoff_id,
        reference=handoff.reference,
        session_id=handoff.session_id,
        status=HandoffStatus(handoff.status),
        priority=Priority(handoff.priority),
        reason=handoff.reason,
        summary=handoff.summary,
        customer_id=handoff.customer_id,
        customer_name=handoff.customer_name,
        customer_email=handoff.customer_email,
        intent=handoff.intent,
        department=handoff.department,
        created_at=handoff.created_at,
        transcript=tuple(
            TranscriptTurn(role=t["role"], text=t["text"], at=_dt(t.get("at")))
            for t in handoff.transcript
        ),
        evidence=tuple(
            EvidenceItem(
                title=e["title"],
                url=e.get("url"),
                score=e.get("score"),
                retrieved_at=_dt(e.get("retrieved_at")),
            )
            for e in handoff.evidence
        ),
        suggested_questions=tuple(handoff.suggested_questions),
        claimed_by=handoff.claimed_by,
        claimed_at=handoff.claimed_at,
        resolved_by=handoff.resolved_by,
        resolved_at=handoff.resolved_at,
        ticket=ticket_info(handoff),
        history=tuple(describe_event(e) for e in events),
    )


def status_callback(
    handoff: Handoff,
    status: str,
    *,
    message: str,
    agent: dict[str, str] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "handoff_status",
        "handoff_id": handoff.handoff_id,
        "session_id": handoff.session_id,
        "status": status,
        "message": message,
    }
    if agent is not None:
        body["agent"] = agent
    ticket = ticket_info(handoff)
    if ticket is not None:
        body["ticket"] = {
            k: v
            for k, v in {
                "system": ticket.system,
                "id": ticket.id,
                "url": ticket.url,
                "offline_reference": ticket.offline_reference,
            }.items()
            if v is not None
        }
    return body
