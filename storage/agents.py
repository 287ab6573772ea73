"""Agents' availability, toggled with `/desk available` and `/desk away`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Agent
from storage.upsert import insert_ignore


class AgentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def set_available(self, slack_user_id: str, available: bool, *, now: datetime) -> None:
        await self._session.execute(
            insert_ignore(
                self._session,
                Agent,
                {"slack_user_id": slack_user_id, "available": available, "updated_at": now},
                ["slack_user_id"],
            )
        )
        await self._session.execute(
            update(Agent)
            .where(Agent.slack_user_id == slack_user_id)
            .values(available=available, updated_at=now)
        )

    async def is_available(self, slack_user_id: str) -> bool:
        value = await self._session.scalar(
            select(Agent.available).where(Agent.slack_user_id == slack_user_id)
        )
        return bool(value)

    async def available_agents(self) -> list[str]:
        rows = await self._session.scalars(select(Agent.slack_user_id).where(Agent.available))
        return list(rows)
