"""Publishes an agent's App Home from stored state."""

from __future__ import annotations

from typing import Any

import structlog
from slack_sdk.web.async_client import AsyncWebClient

from bot.home import home_view
from bot.outbox.kinds import OutboxKind
from bot.slack_api import call
from bot.tickets.agents import AgentProfiles
from integrations.errors import Rejected
from storage.db import Database
from storage.outbox import OutboxMessage

log = structlog.get_logger(__name__)


class HomeEffects:
    def __init__(self, db: Database, client: AsyncWebClient, profiles: AgentProfiles) -> None:
        self._db = db
        self._client = client
        self._profiles = profiles

    def effects(self) -> dict[str, Any]:
        return {OutboxKind.SLACK_HOME: self.publish}

    async def publish(self, message: OutboxMessage) -> None:
        user_id = message.payload["user_id"]
        async with self._db.reads() as uow:
            available = await uow.agents.is_available(user_id)
            handoffs = await uow.handoffs.list_open(limit=40)
        view = home_view(available=available, handoffs=handoffs)
        await call("views.publish", self._client.views_publish(user_id=user_id, view=view))
        if available:
            # How the ticketing system knows them: the e-mail of an agent who just came
            # in, so assignments made there can be matched to them (bot/tickets/sync.py).
            try:
                await self._profiles.refresh(user_id)
            except Rejected as exc:
                # Slack knows no such user (user_not_found): the Home is published, and
                # there is no e-mail to match. Refused again would change nothing.
                log.warning("home.profile_refused", user_id=user_id, error=str(exc))
