"""Filing a handoff's ticket: the fallback tree of seed 000, decided on stored state.

system unreachable  -> offline reference now, the create retried (bot/tickets/retries.py)
no agent available  -> an unassigned ticket; the customer hears queue position and wait
agent available     -> the ticket assigned to them; if the system refuses the
                       assignment, it is filed unassigned and the assignment retried
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

import structlog

from bot.clock import Clock
from bot.customer_messages import CustomerMessages, MessageKey
from bot.errors import NotFound
from bot.handoffs import effects
from bot.handoffs.view import HandoffStatus
from bot.metrics import Metrics
from bot.tickets.agents import AgentProfiles
from bot.tickets.queue import QueueService
from bot.tickets.tickets import new_ticket
from integrations.errors import AssignmentRejected, IntegrationError
from integrations.ticketing.protocol import Assignee, Ticketing, TicketRef
from storage.db import Database
from storage.fallbacks import ASSIGNMENT, OFFLINE, QUEUE
from storage.models import Handoff
from storage.uow import UnitOfWork

log = structlog.get_logger(__name__)


class FallbackReason(StrEnum):
    INTEGRATION_UNAVAILABLE = "integration_unavailable"
    NO_AGENT_AVAILABLE = "no_agent_available"
    ASSIGNMENT_FAILED = "assignment_failed"


def offline_reference(reference: str) -> str:
    """What the customer quotes while the ticketing system is down: the handoff's own
    reference under another prefix, so it is known before any system answers."""
    return "OFF-" + reference.removeprefix("DH-")


def ticket_key(handoff_id: str) -> str:
    return f"deskhand-handoff-{handoff_id}"


class TicketFiling:
    def __init__(
        self,
        db: Database,
        ticketing: Ticketing,
        profiles: AgentProfiles,
        queue: QueueService,
        messages: CustomerMessages,
        *,
        clock: Clock,
        metrics: Metrics,
        max_open_claims: int,
        offline_retry_interval: float,
        offline_retry_window: float,
        assignment_retry_base: float,
    ) -> None:
        self._db = db
        self._ticketing = ticketing
        self._profiles = profiles
        self._queue = queue
        self._messages = messages
        self._clock = clock
        self._metrics = metrics
        self._max_open = max_open_claims
        self._interval = timedelta(seconds=offline_retry_interval)
        self._window = timedelta(seconds=offline_retry_window)
        self._assignment_base = timedelta(seconds=assignment_retry_base)

    @property
    def system(self) -> str:
        return self._ticketing.system

    async def file(self, handoff_id: str, *, retry: bool = False) -> TicketRef | None:
        """Create the ticket (None when it exists already). Unavailable and RateLimited
        from the system reach the caller, which decides between offline and later."""
        async with self._db.reads() as uow:
            handoff = await uow.handoffs.get(handoff_id)
            if handoff is None:
                raise NotFound(f"No handoff {handoff_id}.")
            if handoff.ticket_id is not None:
                return None
            target = await self._target(handoff, uow)
        assignee = await self._assignee(target, handoff_id)
        reason = None if assignee else FallbackReason.NO_AGENT_AVAILABLE
        ticket = new_ticket(handoff, assignee=assignee, fallback_reason=reason)
        failure: str | None = None
        key = ticket_key(handoff_id)
        try:
            ref = await self._ticketing.create_ticket(ticket, idempotency_key=key)
        except AssignmentRejected as exc:
            failure = str(exc)
            log.warning(
                "ticket.assignment_failed",
                handoff_id=handoff_id,
                agent=assignee.slack_user_id if assignee else None,
                system=self.system,
                error=failure,
            )
            ticket = new_ticket(
                handoff, assignee=None, fallback_reason=FallbackReason.ASSIGNMENT_FAILED
            )
            ref = await self._ticketing.create_ticket(ticket, idempotency_key=key)
        self._metrics.ticketing_up.labels(system=self.system).set(1)
        await self._record(
            handoff_id,
            ref,
            assigned=assignee if failure is None else None,
            target=target,
            failure=failure,
            retry=retry,
        )
        log.info("ticket.created", handoff_id=handoff_id, ticket_id=ref.id, system=ref.system)
        return ref

    async def _target(self, handoff: Handoff, uow: UnitOfWork) -> tuple[str, str | None] | None:
        """Whom the ticket goes to: the claimer, else the least busy available agent."""
        if handoff.status == HandoffStatus.CLAIMED and handoff.claimed_by:
            return handoff.claimed_by, handoff.claimed_by_name
        if handoff.status != HandoffStatus.QUEUED:
            return None
        agent = await uow.agents.pick_for_assignment(max_open=self._max_open)
        return (agent.slack_user_id, agent.name) if agent else None

    async def _assignee(
        self, target: tuple[str, str | None] | None, handoff_id: str
    ) -> Assignee | None:
        if target is None:
            return None
        try:
            return await self._profiles.assignee(*target)
        except IntegrationError as exc:
            # Slack would not tell us the agent's e-mail: file it unassigned for now.
            log.warning("ticket.agent_profile_failed", handoff_id=handoff_id, error=str(exc))
            return None

    async def _record(
        self,
        handoff_id: str,
        ref: TicketRef,
        *,
        assigned: Assignee | None,
        target: tuple[str, str | None] | None,
        failure: str | None,
        retry: bool,
    ) -> None:
        now = self._clock.now()
        async with self._db.uow() as uow:
            await uow.handoffs.update(
                handoff_id,
                {
                    "ticket_system": ref.system,
                    "ticket_id": ref.id,
                    "ticket_url": ref.url,
                    "ticket_assignee": assigned.slack_user_id if assigned else None,
                    "version": Handoff.version + 1,
                    "updated_at": now,
                },
            )
            handoff = await uow.handoffs.reload(handoff_id)
            assert handoff is not None
            await uow.handoffs.add_event(
                handoff.id, "ticket_created", at=now, actor=None, detail=ref.id
            )
            if assigned is not None:
                await uow.agents.mark_assigned(assigned.slack_user_id, now=now)
            if retry:
                await uow.fallbacks.resolve(handoff.id, OFFLINE, now=now)
                self._metrics.ticket_retries.labels(kind=OFFLINE, outcome="filed").inc()
            if failure is not None and target is not None:
                await uow.fallbacks.open(
                    handoff.id,
                    ASSIGNMENT,
                    reason=FallbackReason.ASSIGNMENT_FAILED,
                    now=now,
                    next_attempt_at=now + self._assignment_base,
                    agent_id=target[0],
                    error=failure,
                )
                self._metrics.ticket_fallbacks.labels(reason=FallbackReason.ASSIGNMENT_FAILED).inc()
            waiting = assigned is None and handoff.status == HandoffStatus.QUEUED
            if waiting and failure is None:
                await uow.fallbacks.open(
                    handoff.id,
                    QUEUE,
                    reason=FallbackReason.NO_AGENT_AVAILABLE,
                    now=now,
                    next_attempt_at=None,
                )
                self._metrics.ticket_fallbacks.labels(
                    reason=FallbackReason.NO_AGENT_AVAILABLE
                ).inc()
            await effects.refresh_message(uow, handoff, now=now)
            render = self._messages.render
            parts = [
                render(
                    MessageKey.OFFLINE_TICKET_FILED,
                    handoff.locale,
                    ticket_id=ref.id,
                    offline_reference=handoff.offline_reference or "",
                )
                if retry and handoff.offline_reference
                else render(MessageKey.TICKET_CREATED, handoff.locale, ticket_id=ref.id)
            ]
            standing = await self._queue.standing(uow, handoff_id) if waiting else None
            if standing is not None:
                parts.append(
                    render(
                        MessageKey.QUEUED_WITH_POSITION,
                        handoff.locale,
                        reference=handoff.reference,
                        position=standing.position,
                        wait=standing.wait_seconds,
                    )
                )
                await uow.queue.told(handoff.id, standing.position, now=now)
            if handoff.status in (HandoffStatus.QUEUED, HandoffStatus.CLAIMED):
                await effects.tell_customer_status(
                    uow,
                    handoff,
                    handoff.status,
                    message=" ".join(parts),
                    now=now,
                    key_suffix=":ticket",
                    queue_position=standing.position if standing else None,
                    estimated_wait_seconds=standing.wait_seconds if standing else None,
                )
            await uow.commit()

    async def record_assignee(self, handoff_id: str, agent_id: str | None) -> None:
        """The ticket is now assigned to ``agent_id`` in the system (None: unassigned):
        stored, its assignment fallback (and, when assigned, its wait in the queue) over,
        and the Slack message rebuilt. The one place both the outbox and retries record it."""
        now = self._clock.now()
        async with self._db.uow() as uow:
            await uow.handoffs.update(
                handoff_id,
                {"ticket_assignee": agent_id, "version": Handoff.version + 1, "updated_at": now},
            )
            handoff = await uow.handoffs.reload(handoff_id)
            if handoff is None:
                return
            if agent_id is not None:
                await uow.fallbacks.resolve(handoff.id, QUEUE, now=now)
            await uow.fallbacks.resolve(handoff.id, ASSIGNMENT, now=now)
            await effects.refresh_message(uow, handoff, now=now)
            await uow.commit()

    async def go_offline(self, handoff_id: str, error: str) -> None:
        """The system is unreachable: an offline reference now, the create retried every
        interval until the window closes."""
        now = self._clock.now()
        async with self._db.uow() as uow:
            handoff = await uow.handoffs.get(handoff_id)
            if handoff is None or handoff.ticket_id is not None:
                return
            reference = handoff.offline_reference or offline_reference(handoff.reference)
            await uow.handoffs.update(
                handoff_id,
                {
                    "offline_reference": reference,
                    "version": Handoff.version + 1,
                    "updated_at": now,
                },
            )
            handoff = await uow.handoffs.reload(handoff_id)
            assert handoff is not None
            await uow.fallbacks.open(
                handoff.id,
                OFFLINE,
                reason=FallbackReason.INTEGRATION_UNAVAILABLE,
                now=now,
                next_attempt_at=now + self._interval,
                deadline=now + self._window,
                error=error,
            )
            await uow.handoffs.add_event(
                handoff.id, "ticket_offline", at=now, actor=None, detail=reference
            )
            await effects.refresh_message(uow, handoff, now=now)
            if handoff.status in (HandoffStatus.QUEUED, HandoffStatus.CLAIMED):
                await effects.tell_customer_status(
                    uow,
                    handoff,
                    handoff.status,
                    message=self._messages.render(
                        MessageKey.OFFLINE, handoff.locale, offline_reference=reference
                    ),
                    now=now,
                    key_suffix=":offline",
                )
            await uow.commit()
        self._metrics.ticket_fallbacks.labels(reason=FallbackReason.INTEGRATION_UNAVAILABLE).inc()
        self._metrics.ticketing_up.labels(system=self.system).set(0)
        log.warning(
            "ticket.offline",
            handoff_id=handoff_id,
            offline_reference=reference,
            system=self.system,
            error=error,
        )
