"""An AI agent asks: store the request once (idempotent on request_id), post it for the
approvers; and answer the agent's polls."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog

from bot.approvals.mapping import decision_out, fingerprint
from bot.approvals.payloads import ApprovalIn, ApprovalStatus
from bot.approvals.records import Step, record
from bot.clock import Clock
from bot.errors import Conflict, NotFound
from bot.metrics import Metrics
from storage.db import Database
from storage.limits import clean_text

log = structlog.get_logger(__name__)


class RequestIdReused(Conflict):
    code = "request_id_reused"


@dataclass(frozen=True)
class Accepted:
    body: dict[str, Any]
    created: bool


@dataclass(frozen=True)
class ApprovalPolicy:
    expires_after: float  # seconds
    escalate_after: float | None  # seconds; None: no backup approvers
    dual_approval_above: int | None  # minor units

    def approvals_needed(self, amount_minor: int) -> int:
        above = self.dual_approval_above
        return 2 if above is not None and amount_minor > above else 1


class ApprovalRequests:
    def __init__(
        self, db: Database, *, clock: Clock, metrics: Metrics, policy: ApprovalPolicy
    ) -> None:
        self._db = db
        self._clock = clock
        self._metrics = metrics
        self._policy = policy

    async def accept(self, payload: ApprovalIn) -> Accepted:
        now = self._clock.now()
        params = payload.params
        escalate = self._policy.escalate_after
        values: dict[str, Any] = {
            "request_id": payload.request_id,
            "fingerprint": fingerprint(payload),
            "action": payload.action,
            "requested_by": payload.requested_by,
            "handoff_id": payload.handoff_id,
            "customer_id": payload.customer.id,
            "customer_email": payload.customer.email,
            "payment_id": params.payment_id,
            "amount_minor": params.amount_minor,
            "currency": params.currency,
            "refund_reason": params.reason,
            "justification": payload.justification,
            "status": ApprovalStatus.PENDING.value,
            "required_approvals": self._policy.approvals_needed(params.amount_minor),
            "votes": [],
            "escalate_at": now + timedelta(seconds=escalate) if escalate is not None else None,
            "expires_at": now + timedelta(seconds=self._policy.expires_after),
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        async with self._db.uow() as uow:
            pk = await uow.approvals.insert_new(values)
            approval = await uow.approvals.get(payload.request_id)
            if approval is None:  # pragma: no cover - inserted or stored just now
                raise NotFound(f"Approval request {payload.request_id} vanished.")
            if pk is None:
                if approval.fingerprint != values["fingerprint"]:
                    raise RequestIdReused(
                        f"request_id {payload.request_id} was already used for another request."
                    )
                return Accepted(decision_out(approval).to_json(), created=False)
            await record(
                uow,
                approval,
                "requested",
                Step(source="webhook", actor_name=payload.requested_by),
                now=now,
                detail=payload.justification,
                notice=False,
            )
            await uow.commit()
        self._metrics.approvals.labels("requested").inc()
        log.info(
            "approval.requested",
            request_id=payload.request_id,
            requested_by=payload.requested_by,
            amount_minor=params.amount_minor,
            currency=params.currency,
        )
        return Accepted(decision_out(approval).to_json(), created=True)

    async def decision(self, request_id: str) -> dict[str, Any]:
        """GET /api/approvals/{request_id}."""
        async with self._db.reads() as uow:
            # From the path: PostgreSQL cannot even compare a NUL (storage/limits.py).
            approval = await uow.approvals.get(clean_text(request_id))
        if approval is None:
            raise NotFound(f"No approval request {request_id}.")
        return decision_out(approval).to_json()
