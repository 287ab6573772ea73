"""Zendesk's formats: the ticket's first comment (HTML), tags, audit metadata, and the
trigger webhook (its JSON template, Zendesk's signature, parsing into TicketEvents).

Pure functions only; ``integrations.ticketing.zendesk`` does the HTTP.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from integrations import verification
from integrations.ticketing.protocol import (
    NewTicket,
    TicketEvent,
    TicketEventKind,
    TicketStatus,
    WebhookRefused,
)

SYSTEM = "zendesk"
SIGNATURE_HEADER = "X-Zendesk-Webhook-Signature"
TIMESTAMP_HEADER = "X-Zendesk-Webhook-Signature-Timestamp"
MAX_SKEW_SECONDS = verification.MAX_SKEW_SECONDS
# The timestamp header, ASCII only: ISO 8601 (Zendesk's own form) or whole Unix seconds.
_SIGNED_AT = re.compile(
    r"[0-9]{1,12}|[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?"
    r"(Z|[+-][0-9]{2}:?[0-9]{2})?"
)
# Zendesk keeps one comment far below this; a long transcript loses its oldest turns first.
MAX_DESCRIPTION_CHARS = 60_000
# Zendesk accepts at most 1 KB of custom audit metadata per update.
MAX_METADATA_BYTES = 1000
MAX_TAG_CHARS = 80

STATUS_TO_ZENDESK: dict[TicketStatus, str] = {
    TicketStatus.OPEN: "open",
    TicketStatus.PENDING: "pending",
    TicketStatus.SOLVED: "solved",
}
# Zendesk's own statuses (API values and the English names {{ticket.status}} renders).
STATUS_FROM_ZENDESK: dict[str, TicketStatus] = {
    "new": TicketStatus.OPEN,
    "open": TicketStatus.OPEN,
    "pending": TicketStatus.PENDING,
    "hold": TicketStatus.PENDING,
    "on-hold": TicketStatus.PENDING,
    "on hold": TicketStatus.PENDING,
    "solved": TicketStatus.SOLVED,
    "closed": TicketStatus.SOLVED,
}

# One webhook, three triggers (docs/zendesk.md); each trigger sends this body with its own
# "deskhand_event", because a trigger's placeholders show the ticket's state, not what changed.
WEBHOOK_EVENTS = ("comment", "assignment", "status")
_TEMPLATE_FIELDS = (
    ("ticket_id", "ticket.id"),
    ("external_id", "ticket.external_id"),
    ("status", "ticket.status"),
    ("updated_at", "ticket.updated_at_with_timestamp"),
    ("assignee_id", "ticket.assignee.id"),
    ("assignee_email", "ticket.assignee.email"),
    ("assignee_name", "ticket.assignee.name"),
    ("comment_id", "ticket.latest_comment.id"),
    ("comment_body", "ticket.latest_comment.value"),
    ("comment_public", "ticket.latest_comment.is_public"),
    ("comment_author_id", "ticket.latest_comment.author.id"),
    ("comment_author_email", "ticket.latest_comment.author.email"),
    ("comment_author_name", "ticket.latest_comment.author.name"),
    ("updater_id", "current_user.id"),
    ("updater_email", "current_user.email"),
)


def webhook_template(event: str) -> str:
    """The JSON body to paste into the Zendesk trigger that sends ``event``."""
    if event not in WEBHOOK_EVENTS:
        raise ValueError(f"unknown deskhand webhook event {event!r}")
    lines = [f'  "deskhand_event": "{event}"']
    lines += [f'  "{key}": "{{{{{placeholder}}}}}"' for key, placeholder in _TEMPLATE_FIELDS]
    return "{\n" + ",\n".join(lines) + "\n}"


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """base64(HMAC-SHA256(secret, timestamp + body)), as Zendesk signs its webhooks."""
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


# -- the ticket's first comment -------------------------------------------------------------


def _text(value: str) -> str:
    return html.escape(value, quote=True).replace("\n", "<br>")


def _link(title: str, url: str | None) -> str:
    # Only http(s) becomes a link: a chatbot-supplied "javascript:" URL stays inert text.
    if url and url.lower().startswith(("http://", "https://")):
        return f'<a href="{html.escape(url, quote=True)}">{_text(title)}</a>'
    return _text(title) + (f" ({_text(url)})" if url else "")


def description_html(ticket: NewTicket) -> str:
    """The internal note that opens the ticket. Every value from the chatbot is escaped."""
    parts = [f"<p>{_text(ticket.summary)}</p>"]
    facts = [("Reason for handoff", ticket.reason)]
    facts += [("Intent", ticket.intent or ""), ("Department", ticket.department or "")]
    facts.append(("Handoff", f"{ticket.reference} ({ticket.handoff_id})"))
    facts.append(("Chatbot conversation", ticket.external_conversation_id))
    parts += [f"<p><strong>{name}:</strong> {_text(value)}</p>" for name, value in facts if value]
    if ticket.evidence:
        items = []
        for item in ticket.evidence:
            score = f" (score {item.score:.2f})" if item.score is not None else ""
            items.append(f"<li>{_link(item.title, item.url)}{score}</li>")
        parts.append("<h4>Evidence</h4><ul>" + "".join(items) + "</ul>")
    if ticket.suggested_questions:
        items = [f"<li>{_text(q)}</li>" for q in ticket.suggested_questions]
        parts.append("<h4>Suggested questions</h4><ul>" + "".join(items) + "</ul>")
    if ticket.metadata:
        items = [f"<li>{_text(k)}: {_text(v)}</li>" for k, v in sorted(ticket.metadata.items())]
        parts.append("<h4>Metadata</h4><ul>" + "".join(items) + "</ul>")
    head = "".join(parts)
    if not ticket.transcript:
        return head
    budget = MAX_DESCRIPTION_CHARS - len(head) - 200
    turns: list[str] = []
    for turn in reversed(ticket.transcript):  # newest first, so the latest turns survive
        when = f" <em>[{_text(turn.at)}]</em>" if turn.at else ""
        rendered = f"<p><strong>{_text(turn.role)}</strong>{when}: {_text(turn.text)}</p>"
        if len(rendered) > budget:
            break
        budget -= len(rendered)
        turns.append(rendered)
    omitted = len(ticket.transcript) - len(turns)
    note = f"<p><em>{omitted} earlier turns omitted.</em></p>" if omitted else ""
    return head + "<h4>Transcript</h4>" + note + "".join(reversed(turns))


def _tag_part(value: str) -> str:
    return re.sub(r"_+", "_", re.sub(r"[^a-z0-9_\-]", "_", value.lower())).strip("_")


def ticket_tags(ticket: NewTicket) -> list[str]:
    """``deskhand`` plus one tag per metadata item (``fallback_reason`` gives
    ``deskhand_fallback_<reason>``), so views and triggers can select on them."""
    tags = {"deskhand"}
    for key, value in ticket.metadata.items():
        name = _tag_part(key)
        if name == "fallback_reason":
            name = "fallback"
        prefix = name if name.startswith("deskhand") else f"deskhand_{name}"
        tag = f"{prefix}_{_tag_part(value)}"
        if _tag_part(value) and len(tag) <= MAX_TAG_CHARS:
            tags.add(tag)
    return sorted(tags)


def audit_metadata(ticket: NewTicket) -> dict[str, str]:
    """Custom audit metadata (kept with the ticket's first audit), within Zendesk's 1 KB."""
    out = {
        "deskhand_handoff_id": ticket.handoff_id,
        "deskhand_reference": ticket.reference,
        "deskhand_conversation_id": ticket.external_conversation_id,
    }
    for key, value in ticket.metadata.items():
        candidate = {**out, key: value[:200]}
        if len(json.dumps(candidate).encode()) <= MAX_METADATA_BYTES:
            out = candidate
    return out


# -- the webhook ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeskhandIdentity:
    """Who deskhand is in Zendesk: the API user's email (always known) and id (once read)."""

    email: str
    user_id: str | None = None

    def is_me(self, user_id: str | None, email: str | None) -> bool:
        if user_id and self.user_id and user_id == self.user_id:
            return True
        return bool(email) and str(email).strip().lower() == self.email.strip().lower()


def parse_time(value: str | None) -> datetime | None:
    """Zendesk's ISO 8601 timestamps (``2021-03-25T05:09:27Z``, or minute precision)."""
    if not value:
        return None
    text = value.strip()
    try:
        if text.isdigit():
            return datetime.fromtimestamp(int(text), tz=UTC)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _signed_at(value: str) -> datetime | None:
    """The signature timestamp header: ISO 8601 as Zendesk sends it, or Unix seconds."""
    if not _SIGNED_AT.fullmatch(value):
        return None
    return parse_time(value)


def verify_webhook(
    secret: str | None, headers: Mapping[str, str], body: bytes, *, now: float
) -> None:
    """Zendesk's scheme: base64 HMAC-SHA256 of timestamp + body, through the shared header
    parsing and constant-time comparison of integrations.verification."""
    key = verification.require_secret(secret, "The Zendesk webhook signing secret")
    timestamp = verification.single_header(
        headers,
        TIMESTAMP_HEADER,
        missing=verification.missing_signature(TIMESTAMP_HEADER),
        invalid=verification.invalid_timestamp(TIMESTAMP_HEADER),
    )
    signature = verification.single_header(
        headers,
        SIGNATURE_HEADER,
        missing=verification.missing_signature(SIGNATURE_HEADER),
        invalid=verification.invalid_signature(f"The {SIGNATURE_HEADER} header is malformed."),
    )
    when = _signed_at(timestamp)
    if when is None:
        raise verification.invalid_timestamp(TIMESTAMP_HEADER)
    verification.check_skew(when.timestamp(), now=now, max_skew=MAX_SKEW_SECONDS)
    if not verification.same(webhook_signature(key, timestamp, body).encode(), signature):
        raise verification.invalid_signature()


def _field(payload: Mapping[str, Any], key: str) -> str | None:
    value = payload.get(key)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def parse_payload(payload: Any, identity: DeskhandIdentity) -> list[TicketEvent]:
    """One trigger delivery (the template above, rendered) -> one TicketEvent."""
    if not isinstance(payload, dict):
        raise WebhookRefused(422, "invalid_payload", "The body is not a JSON object.")
    event = _field(payload, "deskhand_event")
    ticket_id = _field(payload, "ticket_id")
    if not ticket_id or not ticket_id.isdigit():
        raise WebhookRefused(422, "invalid_payload", "ticket_id is missing or not a number.")
    updated_at = _field(payload, "updated_at") or ""
    updater_id, updater_email = _field(payload, "updater_id"), _field(payload, "updater_email")
    common: dict[str, Any] = {
        "system": SYSTEM,
        "ticket_id": ticket_id,
        "at": parse_time(updated_at),
    }
    if event == "comment":
        comment_id = _field(payload, "comment_id")
        if not comment_id:
            raise WebhookRefused(422, "invalid_payload", "comment_id is missing.")
        author_id = _field(payload, "comment_author_id")
        author_email = _field(payload, "comment_author_email")
        public = (_field(payload, "comment_public") or "").lower() in ("true", "1", "yes")
        return [
            TicketEvent(
                kind=TicketEventKind.COMMENT,
                event_id=f"zendesk:{ticket_id}:comment:{comment_id}",
                body=str(payload.get("comment_body") or ""),
                public=public,
                author_name=_field(payload, "comment_author_name"),
                author_email=author_email,
                from_deskhand=identity.is_me(author_id, author_email),
                **common,
            )
        ]
    from_deskhand = identity.is_me(updater_id, updater_email)
    if event == "assignment":
        assignee_id = _field(payload, "assignee_id")
        assignee_email = _field(payload, "assignee_email")
        assigned = bool(assignee_id or assignee_email)
        return [
            TicketEvent(
                kind=TicketEventKind.ASSIGNED if assigned else TicketEventKind.UNASSIGNED,
                event_id=f"zendesk:{ticket_id}:assignee:{assignee_id or '-'}:{updated_at}",
                assignee_email=assignee_email,
                author_email=updater_email,
                from_deskhand=from_deskhand,
                **common,
            )
        ]
    if event == "status":
        raw = (_field(payload, "status") or "").lower()
        status = STATUS_FROM_ZENDESK.get(raw)
        if status is None:
            raise WebhookRefused(422, "unknown_status", f"Unknown Zendesk status {raw!r}.")
        return [
            TicketEvent(
                kind=TicketEventKind.STATUS,
                event_id=f"zendesk:{ticket_id}:status:{status.value}:{updated_at}",
                status=status,
                author_email=updater_email,
                from_deskhand=from_deskhand,
                **common,
            )
        ]
    raise WebhookRefused(422, "unknown_event", f"Unknown deskhand_event {event!r}.")


def parse_webhook_body(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise WebhookRefused(422, "invalid_json", "The body is not valid JSON.") from exc
