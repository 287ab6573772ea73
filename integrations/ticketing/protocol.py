"""The ticketing capability every system (local, zendesk, intercom, custom) provides.

Errors are those of integrations.errors: Unavailable (the system is unreachable: connection
error, timeout, 5xx, circuit open), RateLimited, Rejected, NotFound.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


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
