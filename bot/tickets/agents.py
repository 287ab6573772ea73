"""How the ticketing system knows an agent: their Slack profile e-mail, kept in the
agents table so the hot paths and the ticketing webhooks need no Slack call."""

from __future__ import annotations

from bot.clock import Clock
from bot.slack_directory import SlackDirectory
from integrations.ticketing.protocol import Assignee
from storage.db import Database


class AgentProfiles:
    def __init__(self, db: Database, directory: SlackDirectory, *, clock: Clock) -> None:
        self._db = db
        self._directory = directory
        self._clock = clock

    async def assignee(self, slack_user_id: str, name: str | None = None) -> Assignee:
        async with self._db.reads() as uow:
            agent = await uow.agents.get(slack_user_id)
            email, known_name = (agent.email, agent.name) if agent else (None, None)
        if email is None:
            email, known_name = await self._directory.profile(slack_user_id)
            async with self._db.uow() as uow:
                await uow.agents.set_profile(
                    slack_user_id, email=email, name=known_name, now=self._clock.now()
                )
                await uow.commit()
        return Assignee(slack_user_id=slack_user_id, name=name or known_name, email=email)

    async def refresh(self, slack_user_id: str) -> None:
        email, name = await self._directory.profile(slack_user_id)
        async with self._db.uow() as uow:
            await uow.agents.set_profile(
                slack_user_id, email=email, name=name, now=self._clock.now()
            )
            await uow.commit()

    async def slack_user(self, email: str | None) -> str | None:
        """The Slack user a ticketing system's agent e-mail belongs to, if deskhand knows."""
        if not email:
            return None
        async with self._db.reads() as uow:
            agent = await uow.agents.by_email(email)
        return agent.slack_user_id if agent else None
