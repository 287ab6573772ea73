"""The unit of work: one transaction, rolled back unless committed explicitly."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.agents import AgentRepository
from storage.handoffs import HandoffRepository
from storage.jobs import JobRunRepository
from storage.outbox import OutboxRepository
from storage.tickets import TicketRepository


class UnitOfWork:
    session: AsyncSession
    handoffs: HandoffRepository
    outbox: OutboxRepository
    tickets: TicketRepository
    agents: AgentRepository
    job_runs: JobRunRepository

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        on_outbox_commit: Callable[[], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self._on_outbox_commit = on_outbox_commit
        self._committed = False

    async def __aenter__(self) -> UnitOfWork:
        self.session = self._sessions()
        self.handoffs = HandoffRepository(self.session)
        self.outbox = OutboxRepository(self.session)
        self.tickets = TicketRepository(self.session)
        self.agents = AgentRepository(self.session)
        self.job_runs = JobRunRepository(self.session)
        self._committed = False
        return self

    async def commit(self) -> None:
        await self.session.commit()
        self._committed = True
        if self.outbox.added and self._on_outbox_commit is not None:
            # Wake the dispatcher now, so the normal path has no polling delay.
            self.outbox.added = 0
            self._on_outbox_commit()

    async def rollback(self) -> None:
        await self.session.rollback()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Closing without a commit rolls the transaction back (the pool does it on
        # release) yet keeps the loaded objects readable, unlike an explicit rollback,
        # which would expire them.
        await self.session.close()
