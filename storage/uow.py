"""The unit of work: one transaction, rolled back unless committed explicitly."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.agents import AgentRepository
from storage.approvals import ApprovalRepository
from storage.fallbacks import FallbackRepository
from storage.gate import Gate, held_turn
from storage.handoffs import HandoffRepository
from storage.jobs import JobRunRepository
from storage.outbox import OutboxRepository
from storage.queue import QueueRepository
from storage.ticket_sync import TicketSyncRepository
from storage.tickets import TicketRepository


class UnitOfWork:
    session: AsyncSession
    handoffs: HandoffRepository
    outbox: OutboxRepository
    tickets: TicketRepository
    agents: AgentRepository
    job_runs: JobRunRepository
    fallbacks: FallbackRepository
    queue: QueueRepository
    ticket_sync: TicketSyncRepository
    approvals: ApprovalRepository
    _turn: contextlib.AbstractAsyncContextManager[None]

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        on_outbox_commit: Callable[[], None] | None = None,
        gate: Gate | None = None,
        read_only: bool = False,
    ) -> None:
        self._sessions = sessions
        self._gate = gate
        self._read_only = read_only
        self._on_outbox_commit = on_outbox_commit
        self._committed = False

    async def __aenter__(self) -> UnitOfWork:
        self._turn = contextlib.nullcontext() if self._gate is None else held_turn(self._gate)
        await self._turn.__aenter__()
        self.session = self._sessions()
        self.handoffs = HandoffRepository(self.session)
        self.outbox = OutboxRepository(self.session)
        self.tickets = TicketRepository(self.session)
        self.agents = AgentRepository(self.session)
        self.job_runs = JobRunRepository(self.session)
        self.fallbacks = FallbackRepository(self.session)
        self.queue = QueueRepository(self.session)
        self.ticket_sync = TicketSyncRepository(self.session)
        self.approvals = ApprovalRepository(self.session)
        self._committed = False
        return self

    async def commit(self) -> None:
        if self._read_only:
            raise RuntimeError("a read-only unit of work cannot commit")
        await self.outbox.flush()
        await self.session.commit()
        self._committed = True
        if self.outbox.added and self._on_outbox_commit is not None:
            # Wake the dispatcher now, so the normal path has no polling delay.
            self.outbox.added = 0
            self._on_outbox_commit()

    async def rollback(self) -> None:
        self.outbox.discard()
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
        try:
            await self.session.close()
        finally:
            await self._turn.__aexit__(exc_type, exc, tb)
