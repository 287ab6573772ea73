"""Undecided requests: first escalated to the backup approvers, then expired. Both are
compare-and-sets, so replicas running the same job never do either twice."""

from __future__ import annotations

import structlog

from bot.approvals.payloads import ApprovalStatus
from bot.approvals.records import Step, record, tell_agent
from bot.clock import Clock
from bot.metrics import Metrics
from storage.db import Database
from storage.gate import background

log = structlog.get_logger(__name__)

P = ApprovalStatus.PENDING.value
JOB = Step(source="job:approval_expiry")
BATCH = 100


class ApprovalExpiry:
    def __init__(
        self, db: Database, *, clock: Clock, metrics: Metrics, backup_approvers: tuple[str, ...]
    ) -> None:
        self._db = db
        self._clock = clock
        self._metrics = metrics
        self._backups = backup_approvers

    async def sweep(self) -> int:
        """Escalate and expire what is due; how many requests changed."""
        now = self._clock.now()
        with background():  # requests waiting for the database go first
            async with self._db.reads() as uow:
                to_escalate = await uow.approvals.due_escalation(now, limit=BATCH)
                to_expire = await uow.approvals.due_expiry(now, limit=BATCH)
            changed = 0
            for request_id in to_expire:
                changed += await self._expire(request_id)
            for request_id in to_escalate:
                if request_id not in to_expire:
                    changed += await self._escalate(request_id)
        return changed

    async def _escalate(self, request_id: str) -> int:
        now = self._clock.now()
        async with self._db.uow() as uow:
            approval = await uow.approvals.get(request_id)
            if approval is None or approval.status != P or approval.escalated_at is not None:
                return 0
            won = await uow.approvals.transition(
                request_id,
                from_statuses=[P],
                version=approval.version,
                values={"escalated_at": now, "updated_at": now},
            )
            if not won:
                return 0
            approval = await uow.approvals.get(request_id, fresh=True)
            assert approval is not None
            waited = int((now - approval.created_at).total_seconds())
            await record(
                uow,
                approval,
                "escalated",
                JOB,
                now=now,
                detail=f"nobody decided within {waited} s; backup approvers may decide now",
            )
            await uow.commit()
        self._metrics.approvals.labels("escalated").inc()
        log.info("approval.escalated", request_id=request_id, backups=list(self._backups))
        return 1

    async def _expire(self, request_id: str) -> int:
        now = self._clock.now()
        async with self._db.uow() as uow:
            won = await uow.approvals.transition(
                request_id,
                from_statuses=[P],
                values={"status": ApprovalStatus.EXPIRED.value, "updated_at": now},
            )
            if not won:
                return 0
            approval = await uow.approvals.get(request_id, fresh=True)
            assert approval is not None
            await record(uow, approval, "expired", JOB, now=now)
            await tell_agent(uow, approval, now=now)
            await uow.commit()
        self._metrics.approvals.labels("expired").inc()
        log.info("approval.expired", request_id=request_id)
        return 1
