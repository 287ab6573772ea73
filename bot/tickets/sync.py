"""Two-way sync: what agents do in the ticketing system reaches Slack and the customer.

Events come by the system's webhooks and, for systems with a change feed, by polling
(the ticket_sync job, with a stored cursor). An event is applied once however it comes:
its effects are keyed by the event id, and the event is recorded as seen after.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import structlog

from bot.clock import Clock
from bot.errors import DeskhandError
from bot.handoffs import effects
from bot.handoffs.lifecycle import Actor, HandoffLifecycle
from bot.handoffs.view import HandoffStatus
from bot.metrics import Metrics
from bot.tickets import blocks
from bot.tickets.agents import AgentProfiles
from integrations.ticketing.protocol import (
    TicketEvent,
    TicketEventKind,
    TicketStatus,
    TicketSync,
)
from storage.db import Database
from storage.gate import background
from storage.models import Handoff

log = structlog.get_logger(__name__)

MAX_PAGES = 10  # per poll; the next poll goes on from the stored cursor


class TicketSyncService:
    def __init__(
        self,
        db: Database,
        sync: TicketSync,
        lifecycle: HandoffLifecycle,
        profiles: AgentProfiles,
        *,
        clock: Clock,
        metrics: Metrics,
    ) -> None:
        self._db = db
        self._sync = sync
        self._lifecycle = lifecycle
        self._profiles = profiles
        self._clock = clock
        self._metrics = metrics

    @property
    def system(self) -> str:
        return self._sync.system

    async def receive(self, headers: Mapping[str, str], body: bytes) -> int:
        """A webhook: verified and parsed (WebhookRefused when not), then applied."""
        events = self._sync.parse_webhook(headers, body, now=self._clock.now().timestamp())
        return await self.apply(events)

    async def poll(self) -> int:
        applied = 0
        with background():
            for _ in range(MAX_PAGES):
                async with self._db.uow() as uow:
                    cursor = await uow.ticket_sync.cursor(self.system)
                changes = await self._sync.changes_since(cursor, limit=100)
                applied += await self.apply(changes.events)
                if changes.cursor is None or changes.cursor == cursor:
                    break
                async with self._db.uow() as uow:
                    await uow.ticket_sync.save_cursor(
                        self.system, changes.cursor, now=self._clock.now()
                    )
                    await uow.commit()
                if not changes.events:
                    break
        return applied

    async def apply(self, events: Iterable[TicketEvent]) -> int:
        applied = 0
        for event in events:
            applied += int(await self._apply(event))
        return applied

    async def _apply(self, event: TicketEvent) -> bool:
        async with self._db.uow() as uow:
            handoff = await uow.handoffs.by_ticket(event.system, event.ticket_id)
            seen = await uow.ticket_sync.seen(event.system, event.event_id)
        if seen:
            outcome = "duplicate"
        elif handoff is None:
            outcome = "unknown_ticket"
        elif event.from_deskhand:
            outcome = "own_change"
        else:
            outcome = "applied"
            try:
                await self._mirror(handoff, event)
            except DeskhandError as exc:  # e.g. already resolved: nothing to change
                outcome = "no_change"
                log.info("ticket_sync.no_change", handoff_id=handoff.handoff_id, reason=str(exc))
        if not seen:
            # After the effects, which are keyed by the event: a crash in between
            # applies it again without doubling anything.
            async with self._db.uow() as uow:
                await uow.ticket_sync.first_time(
                    event.system, event.event_id, now=self._clock.now()
                )
                await uow.commit()
        self._metrics.ticket_sync_events.labels(
            system=event.system, kind=event.kind, outcome=outcome
        ).inc()
        log.info(
            "ticket_sync.event",
            system=event.system,
            ticket_id=event.ticket_id,
            event_id=event.event_id,
            kind=event.kind,
            outcome=outcome,
        )
        return outcome == "applied"

    async def _mirror(self, handoff: Handoff, event: TicketEvent) -> None:
        if event.kind == TicketEventKind.COMMENT:
            await self._comment(handoff, event)
        elif event.kind == TicketEventKind.ASSIGNED:
            await self._assigned(handoff, event)
        elif event.kind == TicketEventKind.UNASSIGNED:
            if handoff.status == HandoffStatus.CLAIMED:
                await self._lifecycle.release(
                    handoff.handoff_id, self._actor(event), from_ticketing=True
                )
        elif (
            event.kind == TicketEventKind.STATUS
            and event.status == TicketStatus.SOLVED
            and handoff.status in (HandoffStatus.QUEUED, HandoffStatus.CLAIMED)
        ):
            await self._lifecycle.resolve(
                handoff.handoff_id, self._actor(event), from_ticketing=True
            )

    def _actor(self, event: TicketEvent, slack_user: str | None = None) -> Actor:
        who = event.author_name or event.author_email or f"{event.system} agent"
        return Actor(user_id=slack_user or f"{event.system}:{who}", name=who)

    async def _comment(self, handoff: Handoff, event: TicketEvent) -> None:
        now = self._clock.now()
        author = event.author_name or event.author_email or f"{event.system} agent"
        slack_user = await self._profiles.slack_user(event.author_email)
        async with self._db.uow() as uow:
            await effects.post_in_thread(
                uow,
                handoff,
                blocks.ticketing_comment(
                    event.body or "", author=author, system=event.system, public=event.public
                ),
                key=f"ticketing:{event.system}:{event.event_id}",
                now=now,
            )
            if event.public and handoff.status in (HandoffStatus.QUEUED, HandoffStatus.CLAIMED):
                await effects.send_to_customer(
                    uow,
                    handoff,
                    message_id=f"{event.system}:{event.event_id}",
                    text=event.body or "",
                    agent={"id": slack_user or (event.author_email or author), "name": author},
                    now=now,
                )
            await uow.commit()

    async def _assigned(self, handoff: Handoff, event: TicketEvent) -> None:
        slack_user = await self._profiles.slack_user(event.assignee_email)
        now = self._clock.now()
        async with self._db.uow() as uow:
            await uow.handoffs.update(
                handoff.handoff_id,
                {"ticket_assignee": slack_user, "version": Handoff.version + 1, "updated_at": now},
            )
            await uow.commit()
        if slack_user is None:
            async with self._db.uow() as uow:
                await effects.post_in_thread(
                    uow,
                    handoff,
                    blocks.ticketing_note(
                        f"Assigned in {event.system} to {event.assignee_email or 'someone'}, "
                        "who has no Slack account deskhand knows of."
                    ),
                    key=f"ticketing:{event.system}:{event.event_id}",
                    now=now,
                )
                await uow.commit()
            return
        if handoff.status == HandoffStatus.CLAIMED and handoff.claimed_by != slack_user:
            await self._lifecycle.release(
                handoff.handoff_id, self._actor(event), from_ticketing=True
            )
        if handoff.claimed_by != slack_user:
            await self._lifecycle.claim(
                handoff.handoff_id, Actor(slack_user, event.author_name), from_ticketing=True
            )
