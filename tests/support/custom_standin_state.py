"""State of the custom ticketing stand-in: tickets, agents, the event log and its cursors,
in the shapes of docs/custom-ticketing.openapi.yaml, and the request check against it."""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters

JSON = dict[str, Any]
DESKHAND_NAME = "deskhand"
DESKHAND_EMAIL = "deskhand-api@tickets.example.com"  # the identity behind deskhand's token
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SPEC_PATH = Path(__file__).resolve().parents[2] / "docs" / "custom-ticketing.openapi.yaml"
SPEC_HOST = "https://tickets.example.com"  # the contract's server, minus its base path
# Request bodies are checked strictly: an undeclared field is a violation, so typos surface.
_STRICT = ("TicketCreate", "TicketUpdate", "CommentCreate", "Requester", "Turn", "Evidence")
_KIND_ALIASES = {
    "comment": "comment.created",
    "assigned": "ticket.assigned",
    "unassigned": "ticket.unassigned",
    "status": "ticket.status_changed",
}


@dataclass
class StandInComment:
    body: str
    public: bool
    author_email: str | None
    author_name: str | None = None
    origin: str = "agent"
    id: str = ""


@dataclass
class StandInTicket:
    id: str
    external_id: str
    subject: str
    description: str
    priority: str
    status: str
    assignee_email: str | None
    requester_email: str | None
    comments: list[StandInComment] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    handoff_id: str = ""
    handoff_reference: str = ""
    created: JSON = field(default_factory=dict)  # the TicketCreate body as received
    created_at: datetime = _EPOCH
    updated_at: datetime = _EPOCH


@dataclass
class Event:
    at: datetime
    id: str
    payload: JSON


class Refusal(Exception):
    """An answer in the contract's error shape."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def encode_cursor(at: datetime, event_id: str) -> str:
    return base64.urlsafe_b64encode(f"{iso(at)}|{event_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        stamp, event_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        return datetime.fromisoformat(stamp), event_id
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise Refusal(400, "invalid_cursor", "the cursor was not made by this feed") from None


class TicketStore:
    """Tickets and the event log. Every change appends an event, stamped to the second so
    that events share timestamps (what the feed's cursor has to cope with)."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock
        self.tickets: dict[str, StandInTicket] = {}
        self.agents: dict[str, tuple[str, str]] = {}  # email -> (id, name)
        self.events: list[Event] = []
        self.reject_assignment = False
        self._seq = 0
        self._last_at = _EPOCH

    def next_id(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}_{self._seq:08d}"  # increasing: the feed orders equal stamps by id

    def stamp(self) -> datetime:
        # Never earlier than the last event, or the feed would order it before a served one.
        self._last_at = max(self.clock().replace(microsecond=0), self._last_at)
        return self._last_at

    def add_agent(self, email: str, name: str) -> str:
        agent_id = self.agents[email][0] if email in self.agents else self.next_id("agt")
        self.agents[email] = (agent_id, name)
        return agent_id

    def get(self, ticket_id: str) -> StandInTicket:
        ticket = self.tickets.get(ticket_id)
        if ticket is None:
            raise Refusal(404, "not_found", f"no ticket {ticket_id}")
        return ticket

    def check_assignable(self, email: str) -> None:
        if email not in self.agents:
            raise Refusal(422, "assignee_not_found", f"no agent {email}")
        if self.reject_assignment:
            raise Refusal(422, "assignee_not_assignable", f"{email} cannot take tickets")

    # -- changes -----------------------------------------------------------------------

    def create(self, body: JSON) -> StandInTicket:
        assignee = body.get("assignee_email")
        if assignee is not None:
            self.check_assignable(assignee)
        ticket = StandInTicket(
            id=f"TCK-{1000 + len(self.tickets) + 1}",
            external_id=body["external_conversation_id"],
            subject=body["subject"],
            description=body["description"],
            priority=body["priority"],
            status=body["status"],
            assignee_email=assignee,
            requester_email=body["requester"].get("email"),
            metadata=dict(body.get("metadata") or {}),
            handoff_id=body["handoff_id"],
            handoff_reference=body["handoff_reference"],
            created=body,
            created_at=self.stamp(),
        )
        ticket.updated_at = ticket.created_at
        self.tickets[ticket.id] = ticket
        return ticket

    def comment(self, ticket: StandInTicket, comment: StandInComment) -> JSON:
        comment.id = self.next_id("cmt")
        ticket.comments.append(comment)
        author = {
            "name": comment.author_name or comment.author_email,
            "email": comment.author_email,
        }
        actor = {"origin": comment.origin, **author}
        at = self.stamp()
        payload = {
            "id": comment.id,
            "ticket_id": ticket.id,
            "body": comment.body,
            "public": comment.public,
            "author": author,
            "created_at": iso(at),
        }
        self.record(ticket, "comment.created", actor, at, comment=payload)
        return payload

    def assign(self, ticket: StandInTicket, email: str | None, actor: JSON) -> None:
        if email == ticket.assignee_email:
            return  # no change, no event: retried requests are harmless
        ticket.assignee_email = email
        if email is None:
            self.record(ticket, "ticket.unassigned", actor, self.stamp())
        else:
            name = self.agents[email][1] if email in self.agents else None
            assignee = {"name": name or email, "email": email}
            self.record(ticket, "ticket.assigned", actor, self.stamp(), assignee=assignee)

    def set_status(self, ticket: StandInTicket, status: str, actor: JSON) -> None:
        if status == ticket.status:
            return
        previous, ticket.status = ticket.status, status
        extra = {"status": status, "previous_status": previous}
        self.record(ticket, "ticket.status_changed", actor, self.stamp(), **extra)

    def record(
        self, ticket: StandInTicket, kind: str, actor: JSON, at: datetime, **extra: Any
    ) -> None:
        ticket.updated_at = at
        self.events.append(Event(at, self.next_id("evt"), {}))
        event = self.events[-1]
        event.payload = self.event_json(ticket, kind, actor, at, event.id, **extra)

    def event_json(
        self,
        ticket: StandInTicket,
        kind: str,
        actor: JSON,
        at: datetime,
        event_id: str,
        **extra: Any,
    ) -> JSON:
        return {
            "id": event_id,
            "type": kind,
            "occurred_at": iso(at),
            "ticket": {
                "id": ticket.id,
                "external_conversation_id": ticket.external_id,
                "handoff_id": ticket.handoff_id or None,
            },
            "actor": actor,
            **extra,
        }

    def agent_actor(self, email: str) -> JSON:
        name = self.agents[email][1] if email in self.agents else None
        return {"origin": "agent", "name": name, "email": email}

    def unrecorded_event(self, kind: str, ticket_id: str, fields: dict[str, Any]) -> JSON:
        """An event for ``CustomStandIn.signed_webhook``: built, never recorded."""
        ticket = self.get(ticket_id)
        kind = _KIND_ALIASES.get(kind, kind)
        at = fields.get("at") or self.stamp()
        email = fields.get("author_email") or fields.get("assignee_email") or "agent@example.com"
        actor = {**self.agent_actor(email), "origin": fields.get("origin", "agent")}
        extra: JSON = {}
        if kind == "comment.created":
            extra["comment"] = {
                "id": self.next_id("cmt"),
                "ticket_id": ticket.id,
                "body": fields.get("body", "hello"),
                "public": fields.get("public", True),
                "author": {"name": actor["name"] or email, "email": email},
                "created_at": iso(at),
            }
        elif kind == "ticket.assigned":
            extra["assignee"] = {"name": email, "email": fields.get("assignee_email", email)}
        elif kind == "ticket.status_changed":
            extra["status"] = fields.get("status", "solved")
        event_id = fields.get("event_id") or self.next_id("evt")
        return self.event_json(ticket, kind, actor, at, event_id, **extra)

    # -- reads -------------------------------------------------------------------------

    def changes(self, since: str | None, limit: int) -> JSON:
        after = decode_cursor(since) if since else (_EPOCH, "")
        later = sorted((e for e in self.events if (e.at, e.id) > after), key=lambda e: (e.at, e.id))
        page = later[:limit]
        last = (page[-1].at, page[-1].id) if page else after
        return {
            "events": [e.payload for e in page],
            "next_cursor": encode_cursor(*last) if page or not since else since,
            "has_more": len(later) > limit,
        }

    def ticket_json(self, ticket: StandInTicket) -> JSON:
        return {
            "id": ticket.id,
            "url": f"https://tickets.example.com/t/{ticket.id}",
            "subject": ticket.subject,
            "description": ticket.description,
            "status": ticket.status,
            "priority": ticket.priority,
            "external_conversation_id": ticket.external_id,
            "handoff_id": ticket.handoff_id,
            "handoff_reference": ticket.handoff_reference,
            "requester": ticket.created.get("requester", {}),
            "assignee_email": ticket.assignee_email,
            "metadata": ticket.metadata,
            "created_at": iso(ticket.created_at),
            "updated_at": iso(ticket.updated_at),
        }


DESKHAND_ACTOR: JSON = {"origin": "deskhand", "name": DESKHAND_NAME, "email": DESKHAND_EMAIL}


@functools.cache
def contract() -> OpenAPI:
    spec = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    for name in _STRICT:
        spec["components"]["schemas"][name]["additionalProperties"] = False
    return OpenAPI.from_dict(spec)


class _SpecRequest:
    """openapi-core's request protocol, with the host the contract's server names."""

    def __init__(self, request: web.Request, body: bytes) -> None:
        self.host_url = SPEC_HOST
        self.path = request.path
        self.method = request.method.lower()
        self.body = body or None
        self.content_type = request.content_type
        self.parameters = RequestParameters(
            query=request.query, header=request.headers, cookie=request.cookies
        )


def contract_problem(request: web.Request, raw: bytes) -> str | None:
    try:
        contract().validate_request(_SpecRequest(request, raw))
    except Exception as exc:  # openapi-core raises a family of errors; each is a violation
        details = [str(e.message) for e in getattr(exc.__cause__, "schema_errors", None) or []]
        return "; ".join([str(exc), *details])
    return None
