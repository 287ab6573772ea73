"""Run-once claims for scheduled jobs shared by several replicas."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import JobRun
from storage.upsert import insert_ignore


class JobRunRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def claim(self, job: str, fire_time: datetime, *, worker: str) -> bool:
        """True for exactly one replica per (job, fire time)."""
        result = await self._session.execute(
            insert_ignore(
                self._session,
                JobRun,
                {"job": job, "fire_time": fire_time, "claimed_by": worker},
                ["job", "fire_time"],
            )
        )
        return bool(getattr(result, "rowcount", 0))
