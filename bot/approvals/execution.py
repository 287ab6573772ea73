"""The approved refund, run once from the outbox. The provider's Idempotency-Key makes a
retry after a crash or a timeout return the first refund, never a second one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog

from bot.approvals.decisions import refund_key
from bot.approvals.payloads import ApprovalStatus
from bot.approvals.records import Step, record, tell_agent
from bot.clock import Clock
from bot.metrics import Metrics
from bot.outbox.dead_letters import DeadLetterCause
from integrations.payments.protocol import (
    PaymentRejected,
    Payments,
    RefundReason,
    RefundRequest,
    RefundResult,
)
from storage.db import Database
from storage.outbox import OutboxMessage
from storage.uow import UnitOfWork

log = structlog.get_logger(__name__)

A = ApprovalStatus.APPROVED.value
PAYMENTS = Step(source="payments")


class RefundExecution:
    def __init__(self, db: Database, payments: Payments, *, clock: Clock, metrics: Metrics) -> None:
        self._db = db
        self._payments = payments
        self._clock = clock
        self._metrics = metrics

    async def run(self, message: OutboxMessage) -> None:
        """The PAYMENT_REFUND outbox effect. Transport errors propagate: the dispatcher
        retries with the same key."""
        request_id = message.payload["request_id"]
        async with self._db.reads() as uow:
            approval = await uow.approvals.get(request_id)
        if approval is None or approval.status != A:
            return  # done before a crash kept this row from being marked done
        assert approval.approved_amount_minor is not None
        request = RefundRequest(
            payment_id=approval.payment_id,
            amount_minor=approval.approved_amount_minor,
            currency=approval.currency,
            reason=RefundReason(approval.refund_reason),
            metadata={"deskhand_request_id": request_id[:500]},
        )
        bound = log.bind(request_id=request_id, payment_id=approval.payment_id)
        try:
            refund = await self._payments.refund(request, idempotency_key=refund_key(request_id))
        except PaymentRejected as exc:
            bound.warning("refund.refused", code=exc.code, error=exc.message)
            self._metrics.refunds.labels(self._payments.system, "refused").inc()
            await self._finish(
                request_id,
                ApprovalStatus.FAILED,
                {"error": {"code": exc.code, "message": exc.message}},
                detail=f"{exc.code}: {exc.message}",
            )
            return
        bound.info("refund.executed", refund_id=refund.refund_id, status=refund.status)
        self._metrics.refunds.labels(self._payments.system, "executed").inc()
        await self._finish(
            request_id,
            ApprovalStatus.EXECUTED,
            _result(refund, partial=refund.amount_minor < approval.amount_minor),
            detail=refund.refund_id,
        )

    async def _finish(
        self,
        request_id: str,
        status: ApprovalStatus,
        result: dict[str, Any],
        *,
        detail: str | None,
    ) -> None:
        now = self._clock.now()
        async with self._db.uow() as uow:
            if not await self._reach(uow, request_id, status, result, detail=detail, now=now):
                return
            await uow.commit()
        self._metrics.approvals.labels(status.value).inc()

    async def dead_letter(
        self, uow: UnitOfWork, message: OutboxMessage, cause: DeadLetterCause
    ) -> None:
        """The refund row became a dead letter (bot/outbox/dead_letters.py): the request
        is `failed`, as on a provider's refusal, in the dead letter's transaction; its
        message is rebuilt and the agent told once (the status is a compare-and-set)."""
        request_id = message.payload["request_id"]
        code = "payments_unavailable" if cause.gave_up else "payments_refused"
        error = {"code": code, "message": cause.error[:500]}
        if await self._reach(
            uow,
            request_id,
            ApprovalStatus.FAILED,
            {"error": error},
            detail=f"{code}: {cause.error[:300]}",
            now=cause.at,
        ):
            log.warning("refund.dead_letter", request_id=request_id, code=code)
            self._metrics.refunds.labels(self._payments.system, "dead_letter").inc()
            self._metrics.approvals.labels(ApprovalStatus.FAILED.value).inc()

    async def _reach(
        self,
        uow: UnitOfWork,
        request_id: str,
        status: ApprovalStatus,
        result: dict[str, Any],
        *,
        detail: str | None,
        now: datetime,
    ) -> bool:
        """Move an approved request to ``status``, audited, its message rebuilt and the
        agent told; False when it is no longer approved (nothing written)."""
        won = await uow.approvals.transition(
            request_id,
            from_statuses=[A],
            values={"status": status.value, "result": result, "updated_at": now},
        )
        if not won:
            return False
        approval = await uow.approvals.get(request_id, fresh=True)
        assert approval is not None
        await record(uow, approval, status.value, PAYMENTS, now=now, detail=detail)
        await tell_agent(uow, approval, now=now)
        return True


def _result(refund: RefundResult, *, partial: bool) -> dict[str, Any]:
    return {
        "refund_id": refund.refund_id,
        "status": refund.status.value,
        "amount_minor": refund.amount_minor,
        "currency": refund.currency,
        "partial": partial,
    }
