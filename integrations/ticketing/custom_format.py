"""Payloads of the custom ticketing contract (docs/custom-ticketing.openapi.yaml): the ticket
deskhand sends, the events the system sends back, and the webhook signature."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from integrations.ticketing.protocol import (
    NewTicket,
    TicketEvent,
    TicketEventKind,
    TicketStatus,
)
from integrations.ticketing.render import plain_description
from integrations.verification import V0Scheme, v0_signature

SYSTEM = "custom"
TIMESTAMP_HEADER = "X-Ticketing-Timestamp"
SIGNATURE_HEADER = "X-Ticketing-Signature"
WEBHOOK_SIGNATURE = V0Scheme(TIMESTAMP_HEADER, SIGNATURE_HEADER)  # deskhand's scheme
DESKHAND_ORIGIN = "deskhand"  # Actor.origin of changes made with deskhand's token

# Assignment refusals named by the contract; anything else is an ordinary rejection.
ASSIGNMENT_ERRORS = frozenset({"assignee_not_found", "assignee_not_assignable"})

_KINDS = {
    "comment.created": TicketEventKind.COMMENT,
    "ticket.assigned": TicketEventKind.ASSIGNED,
    "ticket.unassigned": TicketEventKind.UNASSIGNED,
    "ticket.status_changed": TicketEventKind.STATUS,
}


class MalformedEvent(ValueError):
    """An event of a known type that breaks the contract."""


def ticket_body(ticket: NewTicket) -> dict[str, Any]:
    """The ``TicketCreate`` body: structured fields plus the plain-text rendering."""
    body: dict[str, Any] = {
        "subject": ticket.subject,
        "description": plain_description(ticket),
        "priority": ticket.priority.value,
        "status": TicketStatus.OPEN.value,
        "external_conversation_id": ticket.external_conversation_id,
        "handoff_id": ticket.handoff_id,
        "handoff_reference": ticket.reference,
        "requester": {
            "external_id": ticket.requester.external_id,
            "name": ticket.requester.name,
            "email": ticket.requester.email,
        },
        "summary": ticket.summary,
        "reason": ticket.reason,
        "intent": ticket.intent,
        "department": ticket.department,
        "transcript": [{"role": t.role, "text": t.text, "at": t.at} for t in ticket.transcript],
        "evidence": [{"title": e.title, "url": e.url, "score": e.score} for e in ticket.evidence],
        "suggested_questions": list(ticket.suggested_questions),
        "metadata": dict(ticket.metadata),
    }
    if ticket.assignee is not None:
        body["assignee_email"] = ticket.assignee.email
    return body


def error_code(body: str) -> str | None:
    """``error.code`` of a contract error body, or None when the body is not one."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The system's webhook signature: deskhand's own scheme under other header names."""
    return v0_signature(secret, timestamp, body)


def parse_event(raw: Any) -> TicketEvent | None:
    """One contract ``TicketEvent`` normalised; None for a type deskhand does not know."""
    if not isinstance(raw, dict):
        raise MalformedEvent("an event is not an object")
    kind = _KINDS.get(str(raw.get("type")))
    if kind is None:
        return None  # newer event types are skipped, as the contract promises
    event_id = _text(raw, "id")
    ticket = _object(raw, "ticket")
    actor = _object(raw, "actor")
    fields: dict[str, Any] = {}
    if kind is TicketEventKind.COMMENT:
        comment = _object(raw, "comment")
        given = comment.get("author")
        author: dict[str, Any] = given if isinstance(given, dict) else {}
        public = comment.get("public")
        if not isinstance(public, bool):
            raise MalformedEvent(f"event {event_id}: comment.public is not a boolean")
        fields = {
            "body": _text(comment, "body"),
            "public": public,
            "author_name": _optional_text(author, "name"),
            "author_email": _optional_text(author, "email"),
        }
    else:
        fields = {
            "author_name": _optional_text(actor, "name"),
            "author_email": _optional_text(actor, "email"),
        }
    if kind is TicketEventKind.ASSIGNED:
        fields["assignee_email"] = _optional_text(_object(raw, "assignee"), "email")
    if kind is TicketEventKind.STATUS:
        try:
            fields["status"] = TicketStatus(str(raw.get("status")))
        except ValueError as exc:
            raise MalformedEvent(f"event {event_id}: unknown status") from exc
    return TicketEvent(
        kind=kind,
        system=SYSTEM,
        ticket_id=_text(ticket, "id"),
        event_id=event_id,
        at=_timestamp(raw.get("occurred_at"), event_id),
        external_conversation_id=_optional_text(ticket, "external_conversation_id"),
        from_deskhand=actor.get("origin") == DESKHAND_ORIGIN,
        **fields,
    )


def _object(raw: dict[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key)
    if not isinstance(value, dict):
        raise MalformedEvent(f"event field {key!r} is missing or not an object")
    return value


def _text(raw: dict[str, Any], key: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        raise MalformedEvent(f"event field {key!r} is missing or not a string")
    return value


def _optional_text(raw: dict[str, Any], key: str) -> str | None:
    value = raw.get(key)
    return value if isinstance(value, str) and value else None


def _timestamp(value: Any, event_id: str) -> datetime:
    if not isinstance(value, str):
        raise MalformedEvent(f"event {event_id}: occurred_at is missing")
    try:
        # fromisoformat in 3.11 reads RFC 3339 including a trailing "Z".
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise MalformedEvent(f"event {event_id}: occurred_at is not RFC 3339") from exc
