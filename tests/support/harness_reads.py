"""Reading outcomes for ``Harness``: what the stand-ins recorded, what the database holds,
and waiting for the outbox to deliver."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import aliased

from bot.app import Deskhand
from bot.clock import FakeClock
from bot.demo.slack_standin import SlackStandIn
from bot.handoffs.mapping import message_marker
from storage.models import Base, Handoff, OutboxRow
from tests.support.harness_data import CHANNEL, HANDOFF


class HarnessReads:
    """Mixin for ``Harness``; needs ``app``, ``slack`` and ``clock``."""

    app: Deskhand
    slack: SlackStandIn
    clock: FakeClock

    # -- reading outcomes -----------------------------------------------------------

    def posted_message(self, handoff_id: str = HANDOFF["handoff_id"]) -> dict[str, Any] | None:
        marker = message_marker(handoff_id)
        for message in self.slack.messages(CHANNEL):
            if any(b.get("block_id") == marker for b in message.get("blocks") or []):
                return message
        return None

    def thread(self, handoff_id: str = HANDOFF["handoff_id"]) -> list[dict[str, Any]]:
        parent = self.posted_message(handoff_id)
        return self.slack.replies(CHANNEL, parent["ts"]) if parent else []

    async def settle(self, within: float = 10.0) -> None:
        """Deliver every outbox row that is due now, and wait until none is left."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            await self.app.dispatcher.drain()
            if await self.due_rows() == 0:
                return
            if loop.time() > deadline:
                raise AssertionError("outbox did not settle")
            await asyncio.sleep(0.01)

    async def due_rows(self) -> int:
        async with self.app.db.uow() as uow:
            count = await uow.session.scalar(
                select(func.count())
                .select_from(OutboxRow)
                .where(
                    OutboxRow.status == "pending",
                    OutboxRow.next_attempt_at <= self.clock.now(),
                )
            )
        return int(count or 0)

    async def advance(self, seconds: float) -> None:
        """Move time on and deliver what fell due."""
        self.clock.advance(seconds)
        await self.settle()

    # -- helpers for scenario tests ----------------------------------------------------

    async def count(self, model: type[Base]) -> int:
        """How many rows the table of ``model`` holds."""
        async with self.app.db.uow() as uow:
            count = await uow.session.scalar(select(func.count()).select_from(model))
        return int(count or 0)

    async def stored_handoff(self, handoff_id: str = HANDOFF["handoff_id"]) -> Handoff | None:
        async with self.app.db.uow() as uow:
            return await uow.handoffs.get(handoff_id)

    async def outbox_rows(self, kind: str | None = None) -> list[OutboxRow]:
        async with self.app.db.uow() as uow:
            query = select(OutboxRow).order_by(OutboxRow.id)
            if kind is not None:
                query = query.where(OutboxRow.kind == kind)
            return list(await uow.session.scalars(query))

    async def deliverable_rows(self) -> int:
        """Due rows that are being or could be delivered now: unlike ``due_rows``, a row
        waiting behind an earlier undelivered row of its ordering key (a post Slack
        refuses, say) does not count."""
        earlier = aliased(OutboxRow)
        blocked = exists().where(
            earlier.ordering_key == OutboxRow.ordering_key,
            earlier.status == "pending",
            earlier.id < OutboxRow.id,
        )
        now = self.clock.now()
        async with self.app.db.uow() as uow:
            count = await uow.session.scalar(
                select(func.count())
                .select_from(OutboxRow)
                .where(
                    OutboxRow.status == "pending",
                    OutboxRow.next_attempt_at <= now,
                    or_(OutboxRow.ordering_key.is_(None), ~blocked),
                )
            )
        return int(count or 0)

    async def settle_ready(self, within: float = 10.0) -> None:
        """Like ``settle``, for when something is down: deliver what can be delivered now
        and return once only retries, and rows queued behind them, are left."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            await self.app.dispatcher.drain()
            if await self.deliverable_rows() == 0:
                return
            if loop.time() > deadline:
                raise AssertionError("outbox did not settle")
            await asyncio.sleep(0.01)

    async def advance_ready(self, seconds: float) -> None:
        """Move time on and deliver what can be delivered (see ``settle_ready``)."""
        self.clock.advance(seconds)
        await self.settle_ready()

    def slack_ts_follow_clock(self) -> None:
        """Make the Slack stand-in mint message ts from the app's clock.

        Real Slack's ts are the wall-clock time of the post, and deskhand relies on that
        (it searches history from shortly before it queued a post); the stand-in's own ts
        count up from 2023. Call before anything is posted."""
        last = 0

        def next_ts() -> str:
            nonlocal last
            last = max(last + 100, int(self.clock.now().timestamp() * 1_000_000))
            return f"{last // 1_000_000}.{last % 1_000_000:06d}"

        self.slack.state.next_ts = next_ts  # type: ignore[method-assign]

    async def wait_until(self, predicate: Callable[[], bool], within: float = 5.0) -> None:
        """Poll ``predicate`` (settling the outbox each round) until it holds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not predicate():
            if loop.time() > deadline:
                raise AssertionError("condition not met in time")
            await self.settle()
            await asyncio.sleep(0.01)
