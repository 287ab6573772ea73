"""Retrying what the ticketing system could not do: offline tickets (every interval until
the window closes, then a dead letter and an alert with a Retry button) and refused
assignments (exponential backoff). Driven by the ticket_retries job from stored state."""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog

from bot.clock import Clock
from bot.errors import Conflict, NotFound
from bot.handoffs import effects
from bot.handoffs.view import HandoffStatus
from bot.metrics import Metrics
from bot.tickets.agents import AgentProfiles
from bot.tickets.filing import TicketFiling
from integrations.errors import IntegrationError, RateLimited, Rejected, Unavailable
from integrations.ticketing.protocol import Ticketing
from storage.db import Database
from storage.fallbacks import ASSIGNMENT, DEAD, OFFLINE, DueFallback
from storage.gate import background
from storage.models import Handoff
from storage.uow import UnitOfWork

log = structlog.get_logger(__name__)

LEASE = timedelta(minutes=2)
RETRY_SWEEP_SECONDS = 10  # how often the ticket_retries job runs


class TicketRetries:
    def __init__(
        self,
        db: Database,
        ticketing: Ticketing,
        filing: TicketFiling,
        profiles: AgentProfiles,
        *,
        clock: Clock,
        metrics: Metrics,
        offline_retry_interval: float,
        offline_retry_window: float,
        assignment_retry_base: float,
        assignment_retry_max: float,
        assignment_max_attempts: int,
        per_sweep: int,
    ) -> None:
        self._db = db
        self._ticketing = ticketing
        self._filing = filing
        self._profiles = profiles
        self._clock = clock
        self._metrics = metrics
        self._interval = timedelta(seconds=offline_retry_interval)
        self._window = timedelta(seconds=offline_retry_window)
        self._base = assignment_retry_base
        self._cap = assignment_retry_max
        self._max_attempts = assignment_max_attempts
        self._per_sweep = per_sweep

    async def sweep(self) -> int:
        """Retry what is due, oldest first, at most per_sweep (the rate the system allows)."""
        with background():
            now = self._clock.now()
            async with self._db.uow() as uow:
                due = await uow.fallbacks.claim_due(now=now, limit=self._per_sweep, lease=LEASE)
                await uow.commit()
            for i, fallback in enumerate(due):
                if fallback.kind == OFFLINE:
                    slowed = await self._retry_offline(fallback)
                else:
                    slowed = await self._retry_assignment(fallback)
                if slowed is not None:
                    # Rate limited: the rest wait as long as the system asked.
                    await self._postpone(due[i + 1 :], slowed)
                    break
            pending = await self._pending()
        for kind in (OFFLINE, ASSIGNMENT):
            self._metrics.ticket_fallbacks_pending.labels(kind=kind).set(pending.get(kind, 0))
        return len(due)

    async def _pending(self) -> dict[str, int]:
        async with self._db.uow() as uow:
            return await uow.fallbacks.count_pending()

    async def _postpone(self, rest: list[DueFallback], seconds: float) -> None:
        now = self._clock.now()
        async with self._db.uow() as uow:
            for fallback in rest:
                await uow.fallbacks.retry_later(
                    fallback.id,
                    now=now,
                    at=now + timedelta(seconds=seconds),
                    error="postponed: the ticketing system is rate limiting",
                )
            await uow.commit()

    async def _retry_offline(self, fallback: DueFallback) -> float | None:
        now = self._clock.now()
        try:
            await self._filing.file(fallback.handoff_id, retry=True)
        except RateLimited as exc:
            wait = exc.retry_after or self._interval.total_seconds()
            await self._later(fallback, now + timedelta(seconds=wait), str(exc), "rate_limited")
            return wait
        except Unavailable as exc:
            if fallback.deadline is not None and now + self._interval > fallback.deadline:
                await self._give_up(fallback, str(exc))
            else:
                await self._later(fallback, now + self._interval, str(exc), "failed")
                self._metrics.ticketing_up.labels(system=self._ticketing.system).set(0)
        except (Rejected, NotFound) as exc:
            await self._give_up(fallback, str(exc))
        else:
            # Filed (or found filed): it is back, so the rest of the backlog is due now.
            async with self._db.uow() as uow:
                pk = await self._pk(uow, fallback)
                await uow.fallbacks.resolve(pk, OFFLINE, now=now)
                stored = await uow.fallbacks.get(pk, OFFLINE)
                if stored is not None and stored.alert_ts:
                    await effects.refresh_ticket_alert(
                        uow, fallback.handoff_id, OFFLINE, state="resolved", now=now
                    )
                hurried = await uow.fallbacks.hurry(OFFLINE, now=now)
                await uow.commit()
            if hurried:
                log.info("ticket.backlog_draining", waiting=hurried, system=self._ticketing.system)
        return None

    async def _retry_assignment(self, fallback: DueFallback) -> float | None:
        now = self._clock.now()
        async with self._db.uow() as uow:
            handoff = await uow.handoffs.get(fallback.handoff_id)
        target = (handoff.claimed_by or fallback.agent_id) if handoff else None
        if (
            handoff is None
            or handoff.ticket_id is None
            or handoff.status not in (HandoffStatus.QUEUED, HandoffStatus.CLAIMED)
            or target is None
            or handoff.ticket_assignee == target
        ):
            await self._nothing_to_assign(fallback)
            return None
        try:
            assignee = await self._profiles.assignee(target)
            await self._ticketing.assign(handoff.ticket_id, assignee)
        except RateLimited as exc:
            wait = exc.retry_after or self._base
            await self._later(fallback, now + timedelta(seconds=wait), str(exc), "rate_limited")
            return wait
        except IntegrationError as exc:
            if fallback.attempts >= self._max_attempts:
                await self._give_up(fallback, str(exc))
            else:
                delay = min(self._cap, self._base * 2.0 ** min(fallback.attempts, 30))
                await self._later(fallback, now + timedelta(seconds=delay), str(exc), "failed")
            log.warning(
                "ticket.assignment_retry_failed",
                handoff_id=fallback.handoff_id,
                ticket_id=handoff.ticket_id,
                agent=target,
                attempt=fallback.attempts,
                error=str(exc),
            )
            return None
        await self._filing.record_assignee(fallback.handoff_id, target)
        self._metrics.ticket_retries.labels(kind=ASSIGNMENT, outcome="assigned").inc()
        return None

    async def _nothing_to_assign(self, fallback: DueFallback) -> None:
        """The handoff closed, has no target, or is assigned already: the retry is over."""
        now = self._clock.now()
        async with self._db.uow() as uow:
            await uow.fallbacks.resolve(await self._pk(uow, fallback), ASSIGNMENT, now=now)
            await uow.commit()

    async def _later(self, fallback: DueFallback, at: datetime, error: str, outcome: str) -> None:
        async with self._db.uow() as uow:
            await uow.fallbacks.retry_later(fallback.id, now=self._clock.now(), at=at, error=error)
            await uow.commit()
        self._metrics.ticket_retries.labels(kind=fallback.kind, outcome=outcome).inc()

    async def _give_up(self, fallback: DueFallback, error: str) -> None:
        """Dead letter: the handoff's message says so, and the channel gets an alert whose
        button retries it."""
        now = self._clock.now()
        async with self._db.uow() as uow:
            handoff = await uow.handoffs.get(fallback.handoff_id)
            assert handoff is not None
            await uow.fallbacks.give_up(fallback.id, now=now, error=error)
            await uow.handoffs.update(
                handoff.handoff_id, {"version": Handoff.version + 1, "updated_at": now}
            )
            handoff = await uow.handoffs.reload(handoff.handoff_id)
            assert handoff is not None
            await effects.refresh_message(uow, handoff, now=now)
            await effects.refresh_ticket_alert(
                uow, handoff.handoff_id, fallback.kind, state="dead", now=now
            )
            await uow.commit()
        self._metrics.ticket_retries.labels(kind=fallback.kind, outcome="dead").inc()
        log.error(
            "ticket.dead_letter",
            handoff_id=fallback.handoff_id,
            kind=fallback.kind,
            attempts=fallback.attempts,
            error=error,
        )

    async def retry_now(self, handoff_id: str, *, by: str) -> str:
        """An operator's Retry on a dead-letter alert: due at once, with a fresh window."""
        now = self._clock.now()
        async with self._db.uow() as uow:
            handoff = await uow.handoffs.get(handoff_id)
            if handoff is None:
                raise NotFound(f"No handoff {handoff_id}.")
            dead = [f for f in await uow.fallbacks.of_handoff(handoff.id) if f.status == DEAD]
            if not dead:
                raise Conflict(f"{handoff.reference} has nothing waiting for a retry.")
            for fallback in dead:
                await uow.fallbacks.revive(
                    handoff.id, fallback.kind, now=now, deadline=now + self._window, by=by
                )
                await effects.refresh_ticket_alert(
                    uow, handoff_id, fallback.kind, state="retrying", now=now
                )
            await uow.handoffs.add_event(handoff.id, "ticket_retry", at=now, actor=by, detail=None)
            await uow.handoffs.update(
                handoff_id, {"version": Handoff.version + 1, "updated_at": now}
            )
            handoff = await uow.handoffs.reload(handoff_id)
            assert handoff is not None
            await effects.refresh_message(uow, handoff, now=now)
            await uow.commit()
        log.info("ticket.retry_requested", handoff_id=handoff_id, user=by)
        return handoff.reference

    async def _pk(self, uow: UnitOfWork, fallback: DueFallback) -> int:
        handoff = await uow.handoffs.get(fallback.handoff_id)
        assert handoff is not None
        return handoff.id
