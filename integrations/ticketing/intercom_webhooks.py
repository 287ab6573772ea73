"""Intercom webhook notifications: the signature, and the topics deskhand mirrors.

Intercom signs each notification with ``X-Hub-Signature: sha1=<hex HMAC-SHA1 of the raw
body keyed with the app's client secret>``. The body is ``{"type": "notification_event",
"topic": ..., "id": ..., "created_at": ..., "data": {"item": <ticket or conversation>}}``.
Pure functions only (no I/O).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from integrations import verification
from integrations.ticketing.intercom_format import (
    CATEGORY_STATUS,
    DESCRIPTION,
    SESSION_ATTRIBUTE,
    SESSION_MARKER,
    SYSTEM,
    html_to_text,
)
from integrations.ticketing.protocol import (
    TicketEvent,
    TicketEventKind,
    TicketStatus,
    WebhookRefused,
)

SIGNATURE_HEADER = "X-Hub-Signature"


def verify_signature(secret: str | None, headers: Mapping[str, str], body: bytes) -> None:
    """``X-Hub-Signature: sha1=<hex HMAC-SHA1(client secret, raw body)>``, hex in any case;
    the header parsed and compared by integrations.verification."""
    key = verification.require_secret(secret, "The Intercom client secret")
    given = verification.single_header(
        headers,
        SIGNATURE_HEADER,
        missing=verification.missing_signature(SIGNATURE_HEADER),
        invalid=verification.invalid_signature(f"The {SIGNATURE_HEADER} header is malformed."),
    )
    expected = "sha1=" + hmac.new(key.encode(), body, hashlib.sha1).hexdigest()
    if not verification.same(expected.encode(), given.lower()):
        raise verification.invalid_signature(f"{SIGNATURE_HEADER} does not match the body.")


def load_notification(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise WebhookRefused(422, "invalid_json", "The body is not JSON.") from exc
    if not isinstance(payload, dict) or payload.get("type") != "notification_event":
        raise WebhookRefused(422, "invalid_payload", "Not an Intercom notification_event.")
    data = payload.get("data")
    item = data.get("item") if isinstance(data, dict) else None
    if not isinstance(payload.get("topic"), str) or not isinstance(item, dict):
        raise WebhookRefused(422, "invalid_payload", "A notification without topic or data.item.")
    return payload


def _when(value: Any) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if isinstance(value, int | float) else None


def _ref_id(value: Any) -> str | None:
    return None if value in (None, 0, "0", "") else str(value)


def notification_events(
    payload: Mapping[str, Any], deskhand_admin: str, admin_emails: Mapping[str, str]
) -> list[TicketEvent]:
    """Normalise one notification; topics deskhand does not mirror give no events. A signed
    notification not in Intercom's shape (a part that is not an object, a time out of range)
    is refused with 422, as an unreadable one is, and never crashes into a 5xx."""
    try:
        return _notification_events(payload, deskhand_admin, admin_emails)
    except (AttributeError, KeyError, TypeError, ValueError, OverflowError, OSError) as exc:
        raise WebhookRefused(
            422, "invalid_payload", "The notification is not in Intercom's shape."
        ) from exc


def _notification_events(
    payload: Mapping[str, Any], deskhand_admin: str, admin_emails: Mapping[str, str]
) -> list[TicketEvent]:
    topic = _TOPICS.get(payload["topic"])
    if topic is None:
        return []
    part_types, make = topic
    item = payload["data"]["item"]
    if item.get("type") == "ticket":
        parts = (item.get("ticket_parts") or {}).get("ticket_parts") or []
        ticket_id = str(item.get("id"))
        session = _session_of(item)
    else:  # a conversation; a ticket flowing through one is named by its ``ticket`` field
        parts = (item.get("conversation_parts") or {}).get("conversation_parts") or []
        linked = item.get("ticket") if isinstance(item.get("ticket"), dict) else {}
        ticket_id = str(linked.get("id") or item.get("id"))
        session = _session_of(linked)
    part = next((p for p in reversed(parts) if p.get("part_type") in part_types), None)
    author = (part or {}).get("author") or {}
    made = make(item, part or {}, admin_emails)
    if made is None:
        return []
    kind, fields = made
    # The part id names the change itself, so a retried notification, or the same part
    # reported under a ticket.* and a conversation.* topic, gives the same event_id.
    source = f"{ticket_id}:{part['id']}" if part else f"notification:{payload.get('id')}"
    return [
        TicketEvent(
            kind=kind,
            system=SYSTEM,
            ticket_id=ticket_id,
            event_id=f"{SYSTEM}:{source}:{kind.value}",
            at=_when((part or {}).get("created_at")) or _when(payload.get("created_at")),
            external_conversation_id=session,
            author_name=author.get("name"),
            author_email=author.get("email"),
            from_deskhand=author.get("type") == "admin" and str(author.get("id")) == deskhand_admin,
            **fields,
        )
    ]


def _session_of(ticket: Mapping[str, Any]) -> str | None:
    attributes = ticket.get("ticket_attributes") or {}
    if isinstance(attributes.get(SESSION_ATTRIBUTE), str) and attributes[SESSION_ATTRIBUTE]:
        return str(attributes[SESSION_ATTRIBUTE])
    text = attributes.get(DESCRIPTION)
    for line in text.splitlines() if isinstance(text, str) else ():
        if line.startswith(SESSION_MARKER):
            return line[len(SESSION_MARKER) :].strip() or None
    return None


Made = tuple[TicketEventKind, dict[str, Any]] | None
Part = Mapping[str, Any]
Make = Callable[[Part, Part, Mapping[str, str]], Made]


def _comment(public: bool) -> Make:
    def make(item: Part, part: Part, emails: Mapping[str, str]) -> Made:
        if not part or (part.get("author") or {}).get("type") != "admin":
            return None
        return TicketEventKind.COMMENT, {
            "body": html_to_text(part.get("body") or ""),
            "public": public,
        }

    return make


def _assignment(item: Part, part: Part, emails: Mapping[str, str]) -> Made:
    target = part.get("assigned_to") if part else None
    if isinstance(target, dict):
        if target.get("type") == "team":
            return None  # deskhand mirrors assignments to people only
        assignee = _ref_id(target.get("id"))
    else:
        assignee = _ref_id(item.get("admin_assignee_id"))
    if assignee is None:
        return TicketEventKind.UNASSIGNED, {}
    author = (part.get("author") or {}) if part else {}
    email = emails.get(assignee) or (
        author.get("email") if _ref_id(author.get("id")) == assignee else None
    )
    return TicketEventKind.ASSIGNED, {"assignee_email": email}


def _ticket_state(item: Part, part: Part, emails: Mapping[str, str]) -> Made:
    state = item.get("ticket_state")
    category = state.get("category") if isinstance(state, dict) else state
    status = CATEGORY_STATUS.get(str(part.get("ticket_state") or category))
    return (TicketEventKind.STATUS, {"status": status}) if status is not None else None


def _fixed(status: TicketStatus) -> Make:
    def make(item: Part, part: Part, emails: Mapping[str, str]) -> Made:
        return TicketEventKind.STATUS, {"status": status}

    return make


_ASSIGNMENT_PARTS = frozenset(
    {"assignment", "default_assignment", "assign_and_reopen", "assign_and_unsnooze"}
)
_STATE_PARTS = frozenset({"ticket_state_updated_by_admin", "ticket_state_updated"})
# topic -> (part types the change is recorded as, normaliser). Subscribe to these (docs).
_TOPICS: dict[str, tuple[frozenset[str], Make]] = {
    "ticket.admin.replied": (frozenset({"comment"}), _comment(True)),
    "ticket.note.created": (frozenset({"note", "note_and_reopen"}), _comment(False)),
    "ticket.admin.assigned": (_ASSIGNMENT_PARTS, _assignment),
    "ticket.state.updated": (_STATE_PARTS, _ticket_state),
    "conversation.admin.replied": (frozenset({"comment"}), _comment(True)),
    "conversation.admin.noted": (frozenset({"note", "note_and_reopen"}), _comment(False)),
    "conversation.admin.assigned": (_ASSIGNMENT_PARTS, _assignment),
    "conversation.admin.closed": (frozenset({"close"}), _fixed(TicketStatus.SOLVED)),
    "conversation.admin.opened": (frozenset({"open"}), _fixed(TicketStatus.OPEN)),
    "conversation.admin.snoozed": (frozenset({"snoozed"}), _fixed(TicketStatus.PENDING)),
}
TOPICS = tuple(_TOPICS)
