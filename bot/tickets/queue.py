"""Where a waiting customer stands: queue position, estimated wait, and notices when the
position improves (at most once every DESKHAND_QUEUE_NOTIFY_EVERY seconds each)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import timedelta

import structlog

from bot.clock import Clock
from bot.customer_messages import CustomerMessages, MessageKey
from bot.handoffs import effects
from bot.handoffs.view import HandoffStatus
from bot.metrics import Metrics
from storage.db import Database
from storage.gate import background
from storage.uow import UnitOfWork

log = structlog.get_logger(__name__)

HISTORY = timedelta(hours=24)  # the claims the median is taken over


@dataclass(frozen=True)
class Standing:
    position: int
    wait_seconds: int


class QueueService:
    def __init__(
        self,
        db: Database,
        messages: CustomerMessages,
        *,
        clock: Clock,
        metrics: Metrics,
        default_wait: float,
        notify_every: float,
    ) -> None:
        self._db = db
        self._messages = messages
        self._clock = clock
        self._metrics = metrics
        self._default_wait = default_wait
        self._notify_every = timedelta(seconds=notify_every)

    async def standing(self, uow: UnitOfWork, handoff_id: str) -> Standing | None:
        position = await uow.queue.position(handoff_id)
        if position is None:
            return None
        return Standing(position, await self.wait_for(uow, position))

    async def wait_for(self, uow: UnitOfWork, position: int) -> int:
        """The recent median time to claim, per place in the queue, shared by the agents
        free to take work (at least one: someone will come back)."""
        since = self._clock.now() - HISTORY
        durations = await uow.queue.recent_claim_seconds(since=since)
        median = statistics.median(durations) if durations else self._default_wait
        agents = max(1, await uow.agents.available_count())
        return round(median * position / agents)

    async def notify_improved(self) -> int:
        """Tell each waiting customer whose position improved (the queue_notices job)."""
        now = self._clock.now()
        told = 0
        with background():
            async with self._db.uow() as uow:
                waiting = await uow.queue.waiting()
                self._metrics.queue_size.set(len(waiting))
                for entry in waiting:
                    if entry.told_position is None or entry.position >= entry.told_position:
                        continue
                    if entry.told_at is not None and now - entry.told_at < self._notify_every:
                        continue
                    handoff = await uow.handoffs.get(entry.handoff_id)
                    if handoff is None or handoff.status != HandoffStatus.QUEUED:
                        continue
                    wait = await self.wait_for(uow, entry.position)
                    await effects.tell_customer_status(
                        uow,
                        handoff,
                        HandoffStatus.QUEUED,
                        message=self._messages.render(
                            MessageKey.QUEUE_POSITION_IMPROVED,
                            handoff.locale,
                            position=entry.position,
                            wait=wait,
                        ),
                        now=now,
                        key_suffix=f":position:{entry.position}",
                        queue_position=entry.position,
                        estimated_wait_seconds=wait,
                    )
                    await uow.queue.told(entry.pk, entry.position, now=now)
                    told += 1
                await uow.commit()
        if told:
            log.info("queue.notified", customers=told)
        return told
