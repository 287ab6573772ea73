"""Short messages to one Slack user (ephemeral), sent through the outbox."""

from __future__ import annotations

from bot.clock import Clock
from bot.handoffs import effects
from storage.db import Database


class Notices:
    def __init__(self, db: Database, *, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def ephemeral(
        self, *, channel: str, user: str, text: str, key: str, thread_ts: str | None = None
    ) -> None:
        async with self._db.uow() as uow:
            await effects.ephemeral(
                uow,
                channel=channel,
                user=user,
                text=text,
                key=key,
                thread_ts=thread_ts,
                now=self._clock.now(),
            )
            await uow.commit()
