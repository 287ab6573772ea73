"""SQLAlchemy 2.0 models. Public ids (handoff_id, reference, request_id) are what leaves the
database. Money is a BigInteger of minor units."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from storage.limits import ACTOR, PERSON_NAME
from storage.types import UTCDateTime


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


class Handoff(Base):
    __tablename__ = "handoffs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    handoff_id: Mapped[str] = mapped_column(String(200), unique=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    session_id: Mapped[str] = mapped_column(String(200), index=True)
    status: Mapped[str] = mapped_column(String(32), index=True)
    priority: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(40))
    summary: Mapped[str] = mapped_column(Text)
    intent: Mapped[str | None] = mapped_column(Text)
    department: Mapped[str | None] = mapped_column(String(200))
    locale: Mapped[str | None] = mapped_column(String(35))
    customer_id: Mapped[str] = mapped_column(String(200))
    customer_name: Mapped[str | None] = mapped_column(String(400))
    customer_email: Mapped[str | None] = mapped_column(String(320))
    transcript: Mapped[list[Any]] = mapped_column(JSON)
    evidence: Mapped[list[Any]] = mapped_column(JSON)
    suggested_questions: Mapped[list[Any]] = mapped_column(JSON)
    # Who: a Slack user id, or "<system>:<name or e-mail>" from a ticketing system.
    claimed_by: Mapped[str | None] = mapped_column(String(ACTOR))
    claimed_by_name: Mapped[str | None] = mapped_column(String(PERSON_NAME))
    claimed_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(ACTOR))
    resolved_at: Mapped[datetime | None]
    slack_channel: Mapped[str | None] = mapped_column(String(40))
    slack_ts: Mapped[str | None] = mapped_column(String(40))
    ticket_system: Mapped[str | None] = mapped_column(String(20))
    ticket_id: Mapped[str | None] = mapped_column(String(200))
    ticket_url: Mapped[str | None] = mapped_column(Text)
    offline_reference: Mapped[str | None] = mapped_column(String(40))
    # Who the ticket is assigned to in the ticketing system (a Slack user id).
    ticket_assignee: Mapped[str | None] = mapped_column(String(40))
    # The last queue position the customer was told, and when.
    queue_position: Mapped[int | None] = mapped_column(Integer)
    queue_told_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_handoffs_slack_thread", "slack_channel", "slack_ts"),
        Index("ix_handoffs_ticket", "ticket_system", "ticket_id"),
        Index("ix_handoffs_claimed_at", "claimed_at"),
    )


class HandoffEvent(Base):
    """The audit trail of a handoff: who did what, when."""

    __tablename__ = "handoff_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    handoff_pk: Mapped[int] = mapped_column(ForeignKey("handoffs.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str | None] = mapped_column(String(ACTOR))
    detail: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime]

    __table_args__ = (Index("ix_handoff_events_handoff", "handoff_pk", "id"),)


class HandoffMessage(Base):
    """A message of the conversation after the handoff, from either side."""

    __tablename__ = "handoff_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    handoff_pk: Mapped[int] = mapped_column(ForeignKey("handoffs.id", ondelete="CASCADE"))
    # customer (from the chatbot), agent (to the customer) or note (internal).
    direction: Mapped[str] = mapped_column(String(16))
    # The chatbot's message_id, or the Slack message ts: what makes redelivery harmless.
    external_id: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    author_id: Mapped[str | None] = mapped_column(String(ACTOR))
    # The customer's name (up to 400) or the agent's.
    author_name: Mapped[str | None] = mapped_column(String(PERSON_NAME))
    created_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("handoff_pk", "direction", "external_id", name="uq_handoff_message"),
    )


class OutboxRow(Base):
    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    idempotency_key: Mapped[str] = mapped_column(String(300), unique=True)
    # Rows sharing an ordering key are delivered in id order (one handoff's thread, say).
    ordering_key: Mapped[str | None] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    locked_by: Mapped[str | None] = mapped_column(String(64))
    locked_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    done_at: Mapped[datetime | None]
    # When the row first fell due (restarted by an operator's retry): the give-up clock.
    # Nullable for rows written without it (created_at stands in, storage/outbox.py).
    first_due_at: Mapped[datetime | None]
    # Transient failures that advance the backoff (a 429 does not).
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Why a pending row waits after a failure: "outage" (its destination failed: due again
    # as soon as the destination answers), "crash" (its effect raised: due again on
    # start-up), "rate_limit" (a 429: its Retry-After stands); None when not failing.
    wait_reason: Mapped[str | None] = mapped_column(String(16))

    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        Index("ix_outbox_ordering", "ordering_key", "status", "id"),
    )


class Ticket(Base):
    """A ticket of the built-in `local` ticketing system."""

    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str | None] = mapped_column(String(40), unique=True)
    idempotency_key: Mapped[str] = mapped_column(String(300), unique=True)
    external_id: Mapped[str | None] = mapped_column(String(200), index=True)
    subject: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)
    priority: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    assignee: Mapped[str | None] = mapped_column(String(ACTOR))
    requester_email: Mapped[str | None] = mapped_column(String(320))
    extra: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class TicketComment(Base):
    __tablename__ = "ticket_comments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_pk: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    idempotency_key: Mapped[str] = mapped_column(String(300), unique=True)
    body: Mapped[str] = mapped_column(Text)
    public: Mapped[bool] = mapped_column(Boolean)
    author: Mapped[str | None] = mapped_column(String(ACTOR))
    created_at: Mapped[datetime]


class Agent(Base):
    """A Slack user's availability; agents start away."""

    __tablename__ = "agents"

    slack_user_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    available: Mapped[bool] = mapped_column(Boolean, default=False)
    # From Slack's profile: how the ticketing systems know the agent.
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    name: Mapped[str | None] = mapped_column(String(PERSON_NAME))
    last_assigned_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class JobRun(Base):
    """One row per (job, fire time): the replica that inserts it runs the job."""

    __tablename__ = "job_runs"

    job: Mapped[str] = mapped_column(String(80), primary_key=True)
    fire_time: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    claimed_by: Mapped[str] = mapped_column(String(64))


class TicketFallback(Base):
    """A branch of the fallback tree taken for a handoff's ticket, with its retries.

    kind ``offline``: the ticketing system was unreachable; the handoff has an offline
    reference and the create is retried until ``deadline``, then the row is ``dead``.
    kind ``assignment``: the system would not assign the ticket; retried with backoff.
    kind ``queue``: no agent was free; the ticket waits unassigned (resolved on claim).
    """

    __tablename__ = "ticket_fallbacks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    handoff_pk: Mapped[int] = mapped_column(ForeignKey("handoffs.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16))  # pending, resolved, dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    deadline: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    agent_id: Mapped[str | None] = mapped_column(String(40))  # assignment: to whom
    # The dead-letter alert in the escalation channel, rebuilt as the retry goes on.
    alert_channel: Mapped[str | None] = mapped_column(String(40))
    alert_ts: Mapped[str | None] = mapped_column(String(40))
    retried_by: Mapped[str | None] = mapped_column(String(40))
    locked_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("handoff_pk", "kind", name="uq_ticket_fallbacks_handoff_kind"),
        Index("ix_ticket_fallbacks_due", "status", "next_attempt_at"),
    )


class TicketSyncEvent(Base):
    """A ticketing system's event already applied: webhooks and polls mirror it once."""

    __tablename__ = "ticket_sync_events"

    system: Mapped[str] = mapped_column(String(20), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    received_at: Mapped[datetime]


class SyncCursor(Base):
    """Where polling a ticketing system's change feed got to."""

    __tablename__ = "sync_cursors"

    system: Mapped[str] = mapped_column(String(20), primary_key=True)
    cursor: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]


class Approval(Base):
    __tablename__ = "approvals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(200), unique=True)
    # sha256 of the request as first accepted: a reused request_id with other content is refused.
    fingerprint: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(20))
    requested_by: Mapped[str] = mapped_column(String(200))
    handoff_id: Mapped[str | None] = mapped_column(String(200))
    customer_id: Mapped[str] = mapped_column(String(200))
    customer_email: Mapped[str | None] = mapped_column(String(320))
    payment_id: Mapped[str] = mapped_column(String(255))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    refund_reason: Mapped[str] = mapped_column(String(40))
    justification: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    required_approvals: Mapped[int] = mapped_column(Integer)
    # [{"user_id", "name", "amount_minor", "at", "note"}], in order; a vote is a CAS on version.
    votes: Mapped[list[Any]] = mapped_column()
    approved_amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    decided_by: Mapped[str | None] = mapped_column(String(40))
    decided_by_name: Mapped[str | None] = mapped_column(String(PERSON_NAME))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None]
    result: Mapped[dict[str, Any] | None] = mapped_column()
    slack_channel: Mapped[str | None] = mapped_column(String(40))
    slack_ts: Mapped[str | None] = mapped_column(String(40))
    handoff_url: Mapped[str | None] = mapped_column(Text)
    escalate_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    expires_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_approvals_expiry", "status", "expires_at"),
        Index("ix_approvals_escalation", "status", "escalate_at"),
    )


class ApprovalEvent(Base):
    """The audit trail: who did what, when, from which Slack action (or job, or webhook)."""

    __tablename__ = "approval_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    approval_pk: Mapped[int] = mapped_column(
        ForeignKey("approvals.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[str | None] = mapped_column(String(40))
    actor_name: Mapped[str | None] = mapped_column(String(PERSON_NAME))
    source: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime]
