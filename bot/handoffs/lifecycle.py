"""Claim, release, resolve, hand back: compare-and-set transitions with their effects."""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from bot.clock import Clock
from bot.errors import Conflict, NotFound, NotPermitted
from bot.handoffs import customer_text, effects
from bot.handoffs.view import HandoffStatus
from bot.metrics import Metrics
from bot.outbox.kinds import OutboxKind
from bot.permissions import Permissions
from integrations.ticketing.protocol import TicketStatus
from storage.db import Database
from storage.models import Handoff
from storage.uow import UnitOfWork

log = structlog.get_logger(__name__)

Q, C = HandoffStatus.QUEUED.value, HandoffStatus.CLAIMED.value


@dataclass(frozen=True)
class Actor:
    user_id: str
    name: str | None = None

    @property
    def display(self) -> str:
        return self.name or self.user_id

    def as_agent(self) -> dict[str, str]:
        return {"id": self.user_id, "name": self.display}


def _state_conflict(handoff: Handoff) -> Conflict:
    if handoff.status == C:
        return Conflict(f"{handoff.reference} is already claimed by <@{handoff.claimed_by}>.")
    if handoff.status == HandoffStatus.RESOLVED:
        return Conflict(f"{handoff.reference} is already resolved.")
    if handoff.status == HandoffStatus.RETURNED_TO_BOT:
        return Conflict(f"{handoff.reference} was handed back to the bot.")
    return Conflict(f"{handoff.reference} is not claimed by anyone.")


class HandoffLifecycle:
    def __init__(
        self, db: Database, *, clock: Clock, metrics: Metrics, permissions: Permissions
    ) -> None:
        self._db = db
        self._clock = clock
        self._metrics = metrics
        self._permissions = permissions

    async def claim(self, handoff_id: str, actor: Actor) -> None:
        now = self._clock.now()
        async with self._db.uow() as uow:
            won = await uow.handoffs.transition(
                handoff_id,
                from_statuses=[Q],
                values={
                    "status": C,
                    "claimed_by": actor.user_id,
                    "claimed_by_name": actor.name,
                    "claimed_at": now,
                    "updated_at": now,
                },
            )
            handoff = await self._load(uow, handoff_id)
            if not won:
                raise _state_conflict(handoff)
            await self._record(uow, handoff, "claimed", actor)
            await effects.tell_customer_status(
                uow,
                handoff,
                HandoffStatus.CLAIMED,
                message=customer_text.claimed(actor.display),
                agent=actor.as_agent(),
                now=now,
            )
            await effects.ticket_operation(
                uow,
                handoff,
                OutboxKind.TICKET_ASSIGN,
                {"agent_id": actor.user_id, "agent_name": actor.name},
                key=f"v{handoff.version}",
                now=now,
            )
            await uow.commit()

    async def release(self, handoff_id: str, actor: Actor) -> None:
        now = self._clock.now()
        async with self._db.uow() as uow:
            handoff = await self._authorized(uow, handoff_id, actor, allowed_from=[C])
            won = await uow.handoffs.transition(
                handoff_id,
                from_statuses=[C],
                claimed_by=handoff.claimed_by,
                values={
                    "status": Q,
                    "claimed_by": None,
                    "claimed_by_name": None,
                    "claimed_at": None,
                    "updated_at": now,
                },
            )
            handoff = await self._load(uow, handoff_id)
            if not won:
                raise _state_conflict(handoff)
            await self._record(uow, handoff, "released", actor)
            await effects.tell_customer_status(
                uow,
                handoff,
                "released",
                message=customer_text.released(handoff.reference),
                now=now,
            )
            await effects.ticket_operation(
                uow, handoff, OutboxKind.TICKET_UNASSIGN, {}, key=f"v{handoff.version}", now=now
            )
            await uow.commit()

    async def resolve(self, handoff_id: str, actor: Actor) -> None:
        await self._close(handoff_id, actor, HandoffStatus.RESOLVED)

    async def return_to_bot(self, handoff_id: str, actor: Actor) -> None:
        await self._close(handoff_id, actor, HandoffStatus.RETURNED_TO_BOT)

    async def _close(self, handoff_id: str, actor: Actor, status: HandoffStatus) -> None:
        now = self._clock.now()
        async with self._db.uow() as uow:
            handoff = await self._authorized(uow, handoff_id, actor, allowed_from=[Q, C])
            won = await uow.handoffs.transition(
                handoff_id,
                from_statuses=[handoff.status],
                claimed_by=handoff.claimed_by,
                values={
                    "status": status.value,
                    "resolved_by": actor.user_id,
                    "resolved_at": now,
                    "updated_at": now,
                },
            )
            handoff = await self._load(uow, handoff_id)
            if not won:
                raise _state_conflict(handoff)
            await self._record(uow, handoff, status.value, actor)
            message = (
                customer_text.resolved(handoff.reference)
                if status is HandoffStatus.RESOLVED
                else customer_text.returned_to_bot()
            )
            await effects.tell_customer_status(uow, handoff, status, message=message, now=now)
            await effects.ticket_operation(
                uow,
                handoff,
                OutboxKind.TICKET_STATUS,
                {"status": TicketStatus.SOLVED.value},
                key=f"v{handoff.version}",
                now=now,
            )
            await uow.commit()

    async def _authorized(
        self, uow: UnitOfWork, handoff_id: str, actor: Actor, *, allowed_from: list[str]
    ) -> Handoff:
        handoff = await self._load(uow, handoff_id)
        if handoff.status not in allowed_from:
            raise _state_conflict(handoff)
        if not self._permissions.may_close(actor.user_id, claimed_by=handoff.claimed_by):
            owner = f"<@{handoff.claimed_by}>" if handoff.claimed_by else "the agent who claims it"
            raise NotPermitted(f"Only {owner} or a lead can do that on {handoff.reference}.")
        return handoff

    async def _load(self, uow: UnitOfWork, handoff_id: str) -> Handoff:
        handoff = await uow.handoffs.get(handoff_id)
        if handoff is None:
            raise NotFound(f"No handoff {handoff_id}.")
        await uow.handoffs.refresh(handoff)
        return handoff

    async def _record(self, uow: UnitOfWork, handoff: Handoff, event: str, actor: Actor) -> None:
        now = self._clock.now()
        await uow.handoffs.add_event(handoff.id, event, at=now, actor=actor.user_id, detail=None)
        await effects.refresh_message(uow, handoff, now=now)
        self._metrics.handoffs.labels(event=event).inc()
        log.info(f"handoff.{event}", handoff_id=handoff.handoff_id, user=actor.user_id)
