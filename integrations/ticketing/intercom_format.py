"""Intercom's shapes: ticket types, ticket attributes, searches and HTML bodies.

Pure functions only (no I/O); ``integrations.ticketing.intercom`` does the HTTP and
``integrations.ticketing.intercom_webhooks`` reads notifications.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from html import escape, unescape
from typing import Any

from integrations.ticketing.protocol import (
    NewTicket,
    TicketPriority,
    TicketStatus,
)
from integrations.ticketing.render import plain_description

SYSTEM = "intercom"
TITLE = "_default_title_"
DESCRIPTION = "_default_description_"
# Optional ticket-type attributes deskhand fills when the ticket type has them (docs/intercom.md).
KEY_ATTRIBUTE = "deskhand_key"
SESSION_ATTRIBUTE = "deskhand_conversation_id"
HANDOFF_ATTRIBUTE = "deskhand_handoff_id"
PRIORITY_ATTRIBUTE = "priority"
# Lines at the end of every description, so the data survives without custom attributes.
KEY_MARKER = "deskhand-key: "
SESSION_MARKER = "deskhand-session: "
# Intercom documents no limit for text attributes; a bounded body keeps the markers intact.
DESCRIPTION_BODY_LIMIT = 20_000

# deskhand status -> the ticket state category Intercom's ticket states are grouped in.
STATE_CATEGORY = {
    TicketStatus.OPEN: "in_progress",
    TicketStatus.PENDING: "waiting_on_customer",
    TicketStatus.SOLVED: "resolved",
}
CATEGORY_STATUS = {
    "submitted": TicketStatus.OPEN,
    "in_progress": TicketStatus.OPEN,
    "waiting_on_customer": TicketStatus.PENDING,
    "resolved": TicketStatus.SOLVED,
}
# Labels of a ``priority`` list attribute's options that each deskhand priority matches.
PRIORITY_LABELS = {
    TicketPriority.LOW: ("low",),
    TicketPriority.NORMAL: ("normal", "medium"),
    TicketPriority.HIGH: ("high",),
    TicketPriority.URGENT: ("urgent", "critical"),
}


@dataclass(frozen=True)
class Attribute:
    id: str
    name: str
    data_type: str
    options: dict[str, str] = field(default_factory=dict)  # lower-case label -> option id


@dataclass(frozen=True)
class TicketType:
    id: str
    name: str
    category: str
    attributes: dict[str, Attribute]
    states: dict[str, str]  # state category -> the first ticket state id in it

    def text_attribute(self, name: str) -> Attribute | None:
        attribute = self.attributes.get(name)
        return attribute if attribute is not None and attribute.data_type == "string" else None


def parse_ticket_types(body: Mapping[str, Any]) -> list[TicketType]:
    types = []
    for raw in body.get("data") or []:
        if raw.get("archived"):
            continue
        attributes = {}
        for attr in (raw.get("ticket_type_attributes") or {}).get("data") or []:
            if attr.get("archived"):
                continue
            options = (attr.get("input_options") or {}).get("list_options") or []
            attributes[attr["name"]] = Attribute(
                id=str(attr["id"]),
                name=attr["name"],
                data_type=attr.get("data_type") or "string",
                options={
                    str(o.get("label", "")).lower(): str(o["id"])
                    for o in options
                    if "id" in o and not o.get("archived")
                },
            )
        states: dict[str, str] = {}
        for state in (raw.get("ticket_states") or {}).get("data") or []:
            states.setdefault(state.get("category", ""), str(state["id"]))
        types.append(
            TicketType(
                str(raw["id"]), raw.get("name", ""), raw.get("category", ""), attributes, states
            )
        )
    return types


def choose_ticket_type(types: list[TicketType], configured: str | None) -> TicketType | None:
    """The configured type; else one prepared for deskhand (has ``deskhand_key``); else the
    first customer-facing type (its comments reach the customer); else the first type."""
    if configured is not None:
        return next((t for t in types if t.id == configured), None)
    prepared = [t for t in types if t.text_attribute(KEY_ATTRIBUTE) is not None]
    customer = [t for t in types if t.category == "Customer"]
    return next(iter(prepared or customer or types), None)


def description(ticket: NewTicket, idempotency_key: str) -> str:
    """The plain-text body (transcript last, cut when very long), then the priority, the
    metadata and deskhand's marker lines, which are never cut."""
    body = plain_description(ticket)
    if len(body) > DESCRIPTION_BODY_LIMIT:
        body = (
            body[:DESCRIPTION_BODY_LIMIT].rstrip() + "\n… (cut; the whole transcript is in Slack)"
        )
    lines = [body, "", f"Priority: {ticket.priority.value}"]
    if ticket.metadata:
        lines.append("Metadata:")
        lines += [f"- {key}: {value}" for key, value in sorted(ticket.metadata.items())]
    lines += ["", "--", SESSION_MARKER + ticket.external_conversation_id]
    return "\n".join([*lines, KEY_MARKER + idempotency_key])


def ticket_attributes(ticket: NewTicket, idempotency_key: str, kind: TicketType) -> dict[str, str]:
    """Title and description always; deskhand's own fields, the priority and each metadata
    key only where the ticket type has that attribute (Intercom refuses unknown ones)."""
    values = {TITLE: ticket.subject, DESCRIPTION: description(ticket, idempotency_key)}
    wanted = {
        **ticket.metadata,
        KEY_ATTRIBUTE: idempotency_key,
        SESSION_ATTRIBUTE: ticket.external_conversation_id,
        HANDOFF_ATTRIBUTE: ticket.handoff_id,
    }
    for name, value in wanted.items():
        if name not in values and kind.text_attribute(name) is not None:
            values[name] = value
    priority = kind.attributes.get(PRIORITY_ATTRIBUTE)
    if priority is not None and priority.data_type == "list":
        option = next(
            (
                priority.options[x]
                for x in PRIORITY_LABELS[ticket.priority]
                if x in priority.options
            ),
            None,
        )
        if option is not None:
            values[PRIORITY_ATTRIBUTE] = option
    elif priority is not None and priority.data_type == "string":
        values[PRIORITY_ATTRIBUTE] = ticket.priority.value
    return values


def key_search(kind: TicketType, idempotency_key: str) -> dict[str, Any]:
    """The ``/tickets/search`` query for a ticket made with this key: exact on the
    ``deskhand_key`` attribute when the type has one, else "description contains"."""
    attribute = kind.text_attribute(KEY_ATTRIBUTE)
    if attribute is not None:
        match = {
            "field": f"ticket_attribute.{attribute.id}",
            "operator": "=",
            "value": idempotency_key,
        }
    else:
        match = {"field": "description", "operator": "~", "value": idempotency_key}
    by_type = {"field": "ticket_type_id", "operator": "=", "value": kind.id}
    return {"query": {"operator": "AND", "value": [by_type, match]}, "pagination": {"per_page": 5}}


def carries_key(ticket: Mapping[str, Any], idempotency_key: str) -> bool:
    """Whether a search hit really is the ticket made with this key (search is fuzzy)."""
    attributes = ticket.get("ticket_attributes") or {}
    if attributes.get(KEY_ATTRIBUTE) == idempotency_key:
        return True
    text = attributes.get(DESCRIPTION)
    return isinstance(text, str) and f"{KEY_MARKER}{idempotency_key}" in text.splitlines()


def text_to_html(text: str) -> str:
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    return "".join(f"<p>{escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs)


def html_to_text(html: str) -> str:
    text = re.sub(r"(?i)<br\s*/?>", "\n", html)
    text = re.sub(r"(?i)</(p|div|li|h[1-6])\s*>", "\n\n", text)
    text = unescape(re.sub(r"<[^>]+>", "", text))
    return re.sub(r"\n{3,}", "\n\n", text).strip()
