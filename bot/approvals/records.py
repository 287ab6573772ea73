"""What every approval step writes besides its own change, in the same transaction: an
audit event, its notice in the message's thread, the message rebuilt, the agent told."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.approvals.mapping import decision_out
from bot.outbox.kinds import OutboxKind, agent_order, approval_slack_order
from storage.models import Approval
from storage.uow import UnitOfWork


@dataclass(frozen=True)
class Step:
    """Who did it and through what: a Slack user and action, a job, the agent, payments."""

    source: str  # "slack:approval_approve", "job:approval_expiry", "webhook", "payments"
    actor_id: str | None = None
    actor_name: str | None = None


async def record(
    uow: UnitOfWork,
    approval: Approval,
    kind: str,
    step: Step,
    *,
    now: datetime,
    detail: str | None = None,
    notice: bool = True,
    refresh: bool = True,
) -> int:
    """Audit ``kind``; post it in the thread (``notice``) and rebuild the message."""
    event_id = await uow.approvals.add_event(
        approval.id,
        kind,
        at=now,
        source=step.source,
        actor_id=step.actor_id,
        actor_name=step.actor_name,
        detail=detail,
    )
    order = approval_slack_order(approval.request_id)
    if refresh:
        await uow.outbox.add(
            OutboxKind.SLACK_APPROVAL_MESSAGE,
            {"request_id": approval.request_id},
            key=f"approval-msg:{approval.request_id}:{event_id}",
            ordering_key=order,
            now=now,
        )
    if notice:
        await uow.outbox.add(
            OutboxKind.SLACK_APPROVAL_NOTICE,
            {"request_id": approval.request_id, "event_id": event_id},
            key=f"approval-notice:{event_id}",
            ordering_key=order,
            now=now,
        )
    return event_id


async def tell_agent(uow: UnitOfWork, approval: Approval, *, now: datetime) -> None:
    """One approval_decision callback per status reached, its body fixed now (the agent
    hears `approved` even when `executed` follows a moment later)."""
    body = decision_out(approval).model_dump(mode="json", exclude_none=True)
    body["type"] = "approval_decision"
    await uow.outbox.add(
        OutboxKind.AGENT_CALLBACK,
        {"body": body},
        key=f"approval:{approval.request_id}:{approval.status}",
        ordering_key=agent_order(approval.request_id),
        now=now,
    )
