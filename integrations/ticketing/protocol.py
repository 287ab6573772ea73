"""The ticketing capability every system (local, zendesk, intercom, custom) provides.

Errors are those of integrations.errors: Unavailable (the system is unreachable: connection
error, timeout, 5xx, circuit open), RateLimited, Rejected, NotFound.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from integrations.verification import Refused
from storage.limits import (
    EMAIL,
    EVENT_ID,
    PERSON_NAME,
    clean_optional,
    clean_text,
    fit_key,
    fit_text,
)


class TicketPriority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class TicketStatus(StrEnum):
    OPEN = "open"
    PENDING = "pending"
    SOLVED = "solved"


@dataclass(frozen=True)
class Requester:
    external_id: str
    name: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class Assignee:
    slack_user_id: str
    name: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class Turn:
    role: str
    text: str
    at: str | None = None


@dataclass(frozen=True)
class EvidenceLink:
    title: str
    url: str | None = None
    score: float | None = None


@dataclass(frozen=True)
class NewTicket:
    handoff_id: str
    reference: str
    external_conversation_id: str  # the chatbot's session_id
    subject: str
    summary: str
    reason: str
    priority: TicketPriority
    requester: Requester
    transcript: tuple[Turn, ...] = ()
    evidence: tuple[EvidenceLink, ...] = ()
    suggested_questions: tuple[str, ...] = ()
    intent: str | None = None
    department: str | None = None
    assignee: Assignee | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TicketRef:
    system: str
    id: str
    url: str | None = None


class Ticketing(Protocol):
    system: str

    async def create_ticket(self, ticket: NewTicket, *, idempotency_key: str) -> TicketRef:
        """Create once per idempotency key: a retry returns the ticket made the first time."""
        ...

    async def assign(self, ticket_id: str, assignee: Assignee) -> None: ...

    async def unassign(self, ticket_id: str) -> None: ...

    async def add_comment(
        self, ticket_id: str, body: str, *, public: bool, author: str | None, idempotency_key: str
    ) -> None:
        """public=True is visible to the customer; False is an internal note."""
        ...

    async def set_status(self, ticket_id: str, status: TicketStatus) -> None: ...


class TicketEventKind(StrEnum):
    COMMENT = "comment"  # a comment was added in the ticketing system
    ASSIGNED = "assigned"
    UNASSIGNED = "unassigned"
    STATUS = "status"


@dataclass(frozen=True)
class TicketEvent:
    """Something that happened to a ticket in the ticketing system, normalised.

    ``event_id`` is stable for the same change however often the system reports it (a
    webhook retried, a poll overlapping the last one), so deskhand mirrors it once.
    ``from_deskhand`` marks changes deskhand made itself (its own API user or admin), which
    must not echo back to the customer or to Slack.
    """

    kind: TicketEventKind
    system: str
    ticket_id: str
    event_id: str
    at: datetime | None = None
    external_conversation_id: str | None = None
    body: str | None = None  # COMMENT
    public: bool = False  # COMMENT: visible to the customer
    author_name: str | None = None
    author_email: str | None = None
    assignee_email: str | None = None  # ASSIGNED
    status: TicketStatus | None = None  # STATUS
    from_deskhand: bool = False

    def __post_init__(self) -> None:
        # What a ticketing system sends cannot be refused like a chatbot's payload (it
        # would retry forever): made storable here, once for webhooks and polls alike.
        cleaned = {
            "ticket_id": clean_text(self.ticket_id),
            "event_id": fit_key(self.event_id, EVENT_ID),
            "external_conversation_id": clean_optional(self.external_conversation_id),
            "body": clean_optional(self.body),
            "author_name": fit_text(self.author_name, PERSON_NAME),
            "author_email": fit_text(self.author_email, EMAIL),
            "assignee_email": fit_text(self.assignee_email, EMAIL),
        }
        for name, value in cleaned.items():
            object.__setattr__(self, name, value)


@dataclass(frozen=True)
class TicketChanges:
    events: tuple[TicketEvent, ...]
    cursor: str | None  # opaque; store it and pass it back; None: nothing new


# A ticketing webhook that must be refused (bad signature, stale, unparseable): the one
# refusal type of every signed endpoint, so the systems' signature checks share it.
WebhookRefused = Refused


class TicketSync(Protocol):
    """Two-way sync: the system's webhooks, and (where it has one) a change feed to poll."""

    system: str

    def parse_webhook(
        self, headers: Mapping[str, str], body: bytes, *, now: float
    ) -> list[TicketEvent]:
        """Verify the system's own signature scheme and normalise the events, or raise
        WebhookRefused. Pure: no I/O, so the handler can refuse before storing anything."""
        ...

    async def changes_since(self, cursor: str | None, *, limit: int) -> TicketChanges:
        """Events after ``cursor`` (oldest first). Systems without a feed return none."""
        ...
