"""Approvers decide: approve (the whole amount or less), reject with a reason. Every
decision is a compare-and-set, checked against who may decide; refusals are audited."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog

from bot.approvals.mapping import to_view
from bot.approvals.money import format_amount
from bot.approvals.payloads import ApprovalStatus
from bot.approvals.records import Step, record, tell_agent
from bot.approvals.requests import ApprovalPolicy
from bot.approvals.view import ApprovalView
from bot.clock import Clock
from bot.errors import Conflict, DeskhandError, NotFound, NotPermitted
from bot.metrics import Metrics
from bot.outbox.kinds import OutboxKind
from bot.permissions import Permissions
from storage.db import Database
from storage.models import Approval
from storage.uow import UnitOfWork

log = structlog.get_logger(__name__)

P = ApprovalStatus.PENDING.value
# A vote lost to another approver's at the same moment is applied again on the new state.
MAX_VOTE_ATTEMPTS = 3


class InvalidAmount(DeskhandError):
    code = "invalid_amount"


def refund_key(request_id: str) -> str:
    """The payment provider's Idempotency-Key: one per request, so at most one refund."""
    return f"deskhand-refund-{request_id}"


def already_decided(approval: Approval) -> Conflict:
    who = f" by <@{approval.decided_by}>" if approval.decided_by else ""
    status = approval.status
    if status == ApprovalStatus.EXPIRED:
        return Conflict(f"Request {approval.request_id} expired before anyone decided.")
    if status in (ApprovalStatus.EXECUTED, ApprovalStatus.FAILED, ApprovalStatus.APPROVED):
        return Conflict(f"Request {approval.request_id} was already approved{who}.")
    return Conflict(f"Request {approval.request_id} was already {status}{who}.")


class ApprovalDecisions:
    def __init__(
        self,
        db: Database,
        *,
        clock: Clock,
        metrics: Metrics,
        permissions: Permissions,
        policy: ApprovalPolicy,
    ) -> None:
        self._db = db
        self._clock = clock
        self._metrics = metrics
        self._permissions = permissions
        self._policy = policy

    async def check(self, request_id: str, step: Step, *, approving: bool) -> ApprovalView:
        """The request, if ``step``'s person may decide it now (before a form opens);
        else the refusal, audited."""
        async with self._db.uow() as uow:
            approval = await self._load(uow, request_id)
            refusal = self._refusal(approval, step, approving=approving)
            if refusal is not None:
                await self._refuse(uow, approval, step, refusal)
            return to_view(approval)

    async def approve(
        self,
        request_id: str,
        step: Step,
        *,
        amount_minor: int | None = None,
        note: str | None = None,
    ) -> ApprovalStatus:
        """Add ``step``'s approval; the request is approved once enough approvers agree.
        Returns the status after the vote (pending while a second approver is needed)."""
        for _ in range(MAX_VOTE_ATTEMPTS):
            now = self._clock.now()
            async with self._db.uow() as uow:
                approval = await self._load(uow, request_id)
                refusal = self._refusal(approval, step, approving=True)
                if refusal is not None:
                    await self._refuse(uow, approval, step, refusal)
                amount = amount_minor if amount_minor is not None else approval.amount_minor
                if not 0 < amount <= approval.amount_minor:
                    asked = format_amount(approval.amount_minor, approval.currency)
                    raise InvalidAmount(f"Approve more than zero and at most {asked}.")
                values = self._vote(approval, step, amount, note, now)
                if not await uow.approvals.transition(
                    request_id, from_statuses=[P], version=approval.version, values=values
                ):
                    continue  # someone else changed it: look again
                approval = await self._reload(uow, request_id)
                final = approval.status == ApprovalStatus.APPROVED
                kind = "approved" if final else "approval_added"
                # The amount is shown from the votes; the detail is the approver's note.
                await record(uow, approval, kind, step, now=now, detail=note)
                if final:
                    await uow.outbox.add(
                        OutboxKind.PAYMENT_REFUND,
                        {"request_id": request_id},
                        key=refund_key(request_id),
                        now=now,
                    )
                    await tell_agent(uow, approval, now=now)
                await uow.commit()
            self._metrics.approvals.labels(kind).inc()
            log.info(
                "approval.vote",
                request_id=request_id,
                user=step.actor_id,
                amount_minor=amount,
                status=approval.status,
            )
            return ApprovalStatus(approval.status)
        raise Conflict(f"Request {request_id} keeps changing; please try again.")

    async def reject(self, request_id: str, step: Step, *, reason: str) -> None:
        now = self._clock.now()
        async with self._db.uow() as uow:
            approval = await self._load(uow, request_id)
            refusal = self._refusal(approval, step, approving=False)
            if refusal is not None:
                await self._refuse(uow, approval, step, refusal)
            won = await uow.approvals.transition(
                request_id,
                from_statuses=[P],
                values={
                    "status": ApprovalStatus.REJECTED.value,
                    "decided_by": step.actor_id,
                    "decided_by_name": step.actor_name,
                    "decision_reason": reason,
                    "decided_at": now,
                    "updated_at": now,
                },
            )
            approval = await self._reload(uow, request_id)
            if not won:
                raise already_decided(approval)
            await record(uow, approval, "rejected", step, now=now, detail=reason)
            await tell_agent(uow, approval, now=now)
            await uow.commit()
        self._metrics.approvals.labels("rejected").inc()
        log.info("approval.rejected", request_id=request_id, user=step.actor_id)

    def _vote(
        self, approval: Approval, step: Step, amount: int, note: str | None, now: datetime
    ) -> dict[str, Any]:
        vote = {"user_id": step.actor_id, "amount_minor": amount, "at": now.isoformat()}
        if note:
            vote["note"] = note
        votes = [*(approval.votes or []), vote]
        # Each approver agreed to at most their amount: the smallest is what all agreed to.
        agreed = min(int(v["amount_minor"]) for v in votes)
        needed = self._policy.approvals_needed(agreed)
        values: dict[str, Any] = {"votes": votes, "required_approvals": needed, "updated_at": now}
        if len(votes) >= needed:
            values |= {
                "status": ApprovalStatus.APPROVED.value,
                "approved_amount_minor": agreed,
                "decided_by": step.actor_id,
                "decided_by_name": step.actor_name,
                "decision_reason": next(
                    (v.get("note") for v in reversed(votes) if v.get("note")), None
                ),
                "decided_at": now,
            }
        return values

    def _refusal(self, approval: Approval, step: Step, *, approving: bool) -> DeskhandError | None:
        user = step.actor_id or ""
        if approval.status != P:
            return already_decided(approval)
        if approval.expires_at <= self._clock.now():
            # Past its deadline it is expired, whether or not the sweep has marked it yet.
            return Conflict(f"Request {approval.request_id} expired before anyone decided.")
        escalated = approval.escalated_at is not None
        if not self._permissions.may_approve(user, escalated=escalated):
            return NotPermitted("Only the configured approvers can decide refund requests.")
        if approving and user == approval.requested_by:
            return NotPermitted("You asked for this refund: another approver must approve it.")
        if approving and any(v["user_id"] == user for v in approval.votes or []):
            return Conflict("You already approved this refund: a second approver is needed.")
        return None

    async def _refuse(
        self, uow: UnitOfWork, approval: Approval, step: Step, refusal: DeskhandError
    ) -> None:
        """Audit a refused click (not a mere repeat on a decided request), then raise."""
        if isinstance(refusal, NotPermitted):
            now = self._clock.now()
            await record(
                uow,
                approval,
                "refused",
                step,
                now=now,
                detail=refusal.user_message,
                notice=False,
                refresh=False,
            )
            await uow.commit()
            self._metrics.approvals.labels("refused").inc()
            log.info("approval.refused", request_id=approval.request_id, user=step.actor_id)
        raise refusal

    async def _load(self, uow: UnitOfWork, request_id: str) -> Approval:
        approval = await uow.approvals.get(request_id)
        if approval is None:
            raise NotFound(f"No approval request {request_id}.")
        return approval

    async def _reload(self, uow: UnitOfWork, request_id: str) -> Approval:
        approval = await uow.approvals.get(request_id, fresh=True)
        assert approval is not None
        return approval
