"""A read-only picture of a handoff, the only thing Block Kit builders and templates see."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class HandoffStatus(StrEnum):
    QUEUED = "queued"
    CLAIMED = "claimed"
    RESOLVED = "resolved"
    RETURNED_TO_BOT = "returned_to_bot"


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


@dataclass(frozen=True)
class TranscriptTurn:
    role: str  # "customer" or "bot"
    text: str
    at: datetime | None = None


@dataclass(frozen=True)
class EvidenceItem:
    title: str
    url: str | None = None
    score: float | None = None
    retrieved_at: datetime | None = None


@dataclass(frozen=True)
class TicketInfo:
    system: str
    id: str | None = None
    url: str | None = None
    offline_reference: str | None = None
    assignee: str | None = None  # Slack user id the ticket is assigned to there
    note: str | None = None  # what is being retried or was given up on, in our words


@dataclass(frozen=True)
class HandoffView:
    handoff_id: str
    reference: str
    session_id: str
    status: HandoffStatus
    priority: Priority
    reason: str
    summary: str
    customer_id: str
    created_at: datetime
    customer_name: str | None = None
    customer_email: str | None = None
    intent: str | None = None
    department: str | None = None
    transcript: tuple[TranscriptTurn, ...] = ()
    evidence: tuple[EvidenceItem, ...] = ()
    suggested_questions: tuple[str, ...] = ()
    claimed_by: str | None = None  # Slack user id
    claimed_at: datetime | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    ticket: TicketInfo | None = None
    # Last notable change, for the message's context line ("Released by <@U1>").
    history: tuple[str, ...] = field(default=())
