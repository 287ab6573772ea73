"""A read-only picture of an approval request: all that Block Kit builders see."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.approvals.payloads import ApprovalStatus


@dataclass(frozen=True)
class ApprovalVote:
    """One approver's approval (two are needed above DESKHAND_DUAL_APPROVAL_ABOVE)."""

    user_id: str
    amount_minor: int
    at: datetime
    note: str | None = None


@dataclass(frozen=True)
class AuditEntry:
    """One step of the audit trail: who did what, when, from which Slack action."""

    event_id: int
    kind: str  # requested, approved, partially_approved, rejected, refused, escalated,
    # expired, executed, failed, callback_delivered
    at: datetime
    actor_id: str | None  # a Slack user id, or None for deskhand itself / the agent
    actor_name: str | None
    source: str  # "webhook", "slack:approval_approve", "job:approval_expiry", "payments"...
    detail: str | None = None  # plain text from the agent or an approver: escape it


@dataclass(frozen=True)
class ApprovalView:
    request_id: str
    action: str  # "refund"
    status: ApprovalStatus
    requested_by: str  # the agent's name (agent text: escape it)
    customer_id: str
    customer_email: str | None
    payment_id: str
    amount_minor: int  # what the agent asked for
    currency: str  # lowercase ISO 4217
    refund_reason: str  # duplicate | fraudulent | requested_by_customer
    justification: str  # agent text: mask and escape it
    created_at: datetime
    expires_at: datetime
    required_approvals: int  # 1, or 2 above the dual-approval threshold
    votes: tuple[ApprovalVote, ...] = ()
    # The amount that will be / was refunded: the smallest amount approved; None until approved.
    approved_amount_minor: int | None = None
    decided_by: str | None = None  # Slack user id of the deciding approver
    decision_reason: str | None = None  # approver text: escape it
    decided_at: datetime | None = None
    refund_id: str | None = None  # set once executed
    failure: str | None = None  # provider's reason when failed (vendor text: escape it)
    handoff_id: str | None = None
    handoff_reference: str | None = None  # "DH-…" when the handoff is known
    handoff_url: str | None = None  # permalink to the handoff's Slack thread
    escalated_at: datetime | None = None
    backup_approvers: tuple[str, ...] = ()  # user ids (U…) and user group ids (S…)
    history: tuple[AuditEntry, ...] = field(default=())

    @property
    def is_partial(self) -> bool:
        return (
            self.approved_amount_minor is not None
            and self.approved_amount_minor < self.amount_minor
        )

    @property
    def is_open(self) -> bool:
        return self.status == ApprovalStatus.PENDING
