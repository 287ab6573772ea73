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
from storage.models import Handoff, HandoffEvent, TicketFallback

_CROCKFORD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "ABCDEFGHJKMNPQRSTVWXYZ0123456789")


def reference_for(handoff_id: str, attempt: int = 0) -> str:
    """A short, sayable reference derived from the handoff id (no lookup needed).

    40 bits can collide: should another handoff hold this one already, the intake asks for
    the next ``attempt`` (a handoff id never contains "#", so no id hashes like another's
    retry). The first attempt is what every reference ever stored was made with."""
    seed = handoff_id if attempt == 0 else f"{handoff_id}#{attempt}"
    digest = hashlib.sha256(seed.encode()).digest()
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


def ticket_info(handoff: Handoff, fallbacks: Sequence[TicketFallback] = ()) -> TicketInfo | None:
    if handoff.ticket_system is None:
        return None
    return TicketInfo(
        system=handoff.ticket_system,
        id=handoff.ticket_id,
        url=handoff.ticket_url,
        offline_reference=handoff.offline_reference,
        assignee=handoff.ticket_assignee,
        note=_fallback_note(handoff.ticket_system, fallbacks),
    )


def _fallback_note(system: str, fallbacks: Sequence[TicketFallback]) -> str | None:
    notes = []
    for f in fallbacks:
        tries = f"{f.attempts} attempt{'s' if f.attempts != 1 else ''}"
        if f.kind == "offline" and f.status == "pending":
            until = f" until {f.deadline:%H:%M} UTC" if f.deadline else ""
            notes.append(f"{system} unreachable: retrying{until} ({tries} so far)")
        elif f.kind == "offline" and f.status == "dead":
            notes.append(f"{system} unreachable: gave up after {tries}; retry from the alert")
        elif f.kind == "assignment" and f.status == "pending":
            notes.append(f"assignment refused by {system}: retrying ({tries} so far)")
        elif f.kind == "assignment" and f.status == "dead":
            notes.append(f"assignment refused by {system}: gave up after {tries}")
    return "; ".join(notes) or None


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


def to_view(
    handoff: Handoff,
    events: Sequence[HandoffEvent] = (),
    fallbacks: Sequence[TicketFallback] = (),
) -> HandoffView:
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
        ticket=ticket_info(handoff, fallbacks),
        history=tuple(describe_event(e) for e in events),
    )


def status_callback(
    handoff: Handoff,
    status: str,
    *,
    message: str,
    agent: dict[str, str] | None = None,
    queue_position: int | None = None,
    estimated_wait_seconds: int | None = None,
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
    if queue_position is not None:
        body["queue_position"] = queue_position
    if estimated_wait_seconds is not None:
        body["estimated_wait_seconds"] = estimated_wait_seconds
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
