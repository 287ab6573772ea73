"""Claim, release, resolve, hand back: compare-and-set transitions with their effects."""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from bot.clock import Clock
from bot.customer_messages import CustomerMessages, MessageKey
from bot.errors import Conflict, NotFound, NotPermitted
from bot.handoffs import effects
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
        self,
        db: Database,
        *,
        clock: Clock,
        metrics: Metrics,
        permissions: Permissions,
        messages: CustomerMessages,
    ) -> None:
        self._db = db
        self._messages = messages
        self._clock = clock
        self._metrics = metrics
        self._permissions = permissions

    async def claim(self, handoff_id: str, actor: Actor, *, from_ticketing: bool = False) -> None:
        """``from_ticketing``: the change was made in the ticketing system, so it is not
        sent back there (and the ticketing system answers for who may make it)."""
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
                message=self._messages.render(
                    MessageKey.CLAIMED, handoff.locale, agent=actor.display
                ),
                agent=actor.as_agent(),
                now=now,
            )
            if from_ticketing:
                await uow.handoffs.update(handoff_id, {"ticket_assignee": actor.user_id})
            else:
                await effects.ticket_operation(
                    uow,
                    handoff,
                    OutboxKind.TICKET_ASSIGN,
                    {"agent_id": actor.user_id, "agent_name": actor.name},
                    key=f"v{handoff.version}",
                    now=now,
                )
            await uow.commit()

    async def release(self, handoff_id: str, actor: Actor, *, from_ticketing: bool = False) -> None:
        now = self._clock.now()
        async with self._db.uow() as uow:
            handoff = await self._authorized(
                uow, handoff_id, actor, allowed_from=[C], check=not from_ticketing
            )
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
                message=self._messages.render(
                    MessageKey.RELEASED, handoff.locale, reference=handoff.reference
                ),
                now=now,
            )
            if from_ticketing:
                await uow.handoffs.update(handoff_id, {"ticket_assignee": None})
            else:
                await effects.ticket_operation(
                    uow, handoff, OutboxKind.TICKET_UNASSIGN, {}, key=f"v{handoff.version}", now=now
                )
            await uow.commit()

    async def resolve(self, handoff_id: str, actor: Actor, *, from_ticketing: bool = False) -> None:
        await self._close(handoff_id, actor, HandoffStatus.RESOLVED, from_ticketing=from_ticketing)

    async def return_to_bot(self, handoff_id: str, actor: Actor) -> None:
        await self._close(handoff_id, actor, HandoffStatus.RETURNED_TO_BOT)

    async def _close(
        self, handoff_id: str, actor: Actor, status: HandoffStatus, *, from_ticketing: bool = False
    ) -> None:
        now = self._clock.now()
        async with self._db.uow() as uow:
            handoff = await self._authorized(
                uow, handoff_id, actor, allowed_from=[Q, C], check=not from_ticketing
            )
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
                self._messages.render(
                    MessageKey.RESOLVED, handoff.locale, reference=handoff.reference
                )
                if status is HandoffStatus.RESOLVED
                else self._messages.render(MessageKey.RETURNED_TO_BOT, handoff.locale)
            )
            await effects.tell_customer_status(uow, handoff, status, message=message, now=now)
            if not from_ticketing:
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
        self,
        uow: UnitOfWork,
        handoff_id: str,
        actor: Actor,
        *,
        allowed_from: list[str],
        check: bool = True,
    ) -> Handoff:
        handoff = await self._load(uow, handoff_id)
        if handoff.status not in allowed_from:
            raise _state_conflict(handoff)
        if check and not self._permissions.may_close(actor.user_id, claimed_by=handoff.claimed_by):
            owner = f"<@{handoff.claimed_by}>" if handoff.claimed_by else "the agent who claims it"
            raise NotPermitted(f"Only {owner} or a lead can do that on {handoff.reference}.")
        return handoff

    async def _load(self, uow: UnitOfWork, handoff_id: str) -> Handoff:
        handoff = await uow.handoffs.reload(handoff_id)
        if handoff is None:
            raise NotFound(f"No handoff {handoff_id}.")
        return handoff

    async def _record(self, uow: UnitOfWork, handoff: Handoff, event: str, actor: Actor) -> None:
        now = self._clock.now()
        await uow.handoffs.add_event(handoff.id, event, at=now, actor=actor.user_id, detail=None)
        await effects.refresh_message(uow, handoff, now=now)
        self._metrics.handoffs.labels(event=event).inc()
        log.info(f"handoff.{event}", handoff_id=handoff.handoff_id, user=actor.user_id)
