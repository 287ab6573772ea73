"""Agents' availability, toggled with `/desk available` and `/desk away`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Agent, Handoff
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

    async def set_profile(
        self, slack_user_id: str, *, email: str | None, name: str | None, now: datetime
    ) -> None:
        """Remember how the ticketing systems know this person (Slack profile e-mail)."""
        await self._session.execute(
            insert_ignore(
                self._session,
                Agent,
                {"slack_user_id": slack_user_id, "available": False, "updated_at": now},
                ["slack_user_id"],
            )
        )
        await self._session.execute(
            update(Agent)
            .where(Agent.slack_user_id == slack_user_id)
            .values(email=email, name=name, updated_at=now)
        )

    async def get(self, slack_user_id: str) -> Agent | None:
        return await self._session.get(Agent, slack_user_id)

    async def by_email(self, email: str) -> Agent | None:
        return await self._session.scalar(
            select(Agent).where(func.lower(Agent.email) == email.strip().lower()).limit(1)
        )

    async def pick_for_assignment(self, *, max_open: int) -> Agent | None:
        """An available agent under ``max_open`` open handoffs (claimed, or routed to them
        and not claimed yet): the least loaded, then the one assigned longest ago."""
        load = (
            select(func.count(Handoff.id))
            .where(
                or_(
                    (Handoff.status == "claimed") & (Handoff.claimed_by == Agent.slack_user_id),
                    (Handoff.status == "queued") & (Handoff.ticket_assignee == Agent.slack_user_id),
                )
            )
            .correlate(Agent)
            .scalar_subquery()
        )
        return await self._session.scalar(
            select(Agent)
            .where(Agent.available, load < max_open)
            .order_by(load, Agent.last_assigned_at.is_not(None), Agent.last_assigned_at)
            .limit(1)
        )

    async def mark_assigned(self, slack_user_id: str, *, now: datetime) -> None:
        await self._session.execute(
            update(Agent).where(Agent.slack_user_id == slack_user_id).values(last_assigned_at=now)
        )

    async def available_count(self) -> int:
        n = await self._session.scalar(select(func.count()).where(Agent.available))
        return int(n or 0)
