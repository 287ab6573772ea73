"""Stored approval -> ApprovalView (for Slack) and -> DecisionOut (for the agent)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.approvals.payloads import ApprovalIn, ApprovalStatus, DecisionOut
from bot.approvals.view import ApprovalView, ApprovalVote, AuditEntry
from storage.models import Approval, ApprovalEvent


def approval_marker(request_id: str, part: str = "msg") -> str:
    """A block_id that finds a message already posted for this request (well under 255)."""
    request = hashlib.sha256(request_id.encode()).hexdigest()[:20]
    which = hashlib.sha256(part.encode()).hexdigest()[:12]
    return f"da:{request}:{which}"


def fingerprint(payload: ApprovalIn) -> str:
    """What a repeat of the same request must match: everything the agent sent."""
    canonical = payload.model_dump_json(exclude_none=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def votes_of(approval: Approval) -> tuple[ApprovalVote, ...]:
    return tuple(
        ApprovalVote(
            user_id=str(v["user_id"]),
            amount_minor=int(v["amount_minor"]),
            at=datetime.fromisoformat(str(v["at"])),
            note=v.get("note"),
        )
        for v in approval.votes or []
    )


def _entry(event: ApprovalEvent) -> AuditEntry:
    return AuditEntry(
        event_id=event.id,
        kind=event.kind,
        at=event.at,
        actor_id=event.actor_id,
        actor_name=event.actor_name,
        source=event.source,
        detail=event.detail,
    )


def to_view(
    approval: Approval,
    events: Sequence[ApprovalEvent] = (),
    *,
    handoff_reference: str | None = None,
    backup_approvers: tuple[str, ...] = (),
) -> ApprovalView:
    result = approval.result or {}
    error = result.get("error") or {}
    return ApprovalView(
        request_id=approval.request_id,
        action=approval.action,
        status=ApprovalStatus(approval.status),
        requested_by=approval.requested_by,
        customer_id=approval.customer_id,
        customer_email=approval.customer_email,
        payment_id=approval.payment_id,
        amount_minor=approval.amount_minor,
        currency=approval.currency,
        refund_reason=approval.refund_reason,
        justification=approval.justification,
        created_at=approval.created_at,
        expires_at=approval.expires_at,
        required_approvals=approval.required_approvals,
        votes=votes_of(approval),
        approved_amount_minor=approval.approved_amount_minor,
        decided_by=approval.decided_by,
        decision_reason=approval.decision_reason,
        decided_at=approval.decided_at,
        refund_id=result.get("refund_id"),
        failure=f"{error.get('code')}: {error.get('message')}" if error else None,
        handoff_id=approval.handoff_id,
        handoff_reference=handoff_reference,
        handoff_url=approval.handoff_url,
        escalated_at=approval.escalated_at,
        backup_approvers=backup_approvers,
        history=tuple(_entry(e) for e in events),
    )


def decision_out(approval: Approval) -> DecisionOut:
    """The agent's view of the request: GET /api/approvals/{id} and the callbacks."""
    votes = votes_of(approval)
    result: dict[str, Any] | None = approval.result
    return DecisionOut(
        request_id=approval.request_id,
        status=ApprovalStatus(approval.status),
        decided_by=approval.decided_by,
        decision_reason=approval.decision_reason,
        result=result,
        approved_amount_minor=approval.approved_amount_minor,
        approved_by=[v.user_id for v in votes] or None,
    )
