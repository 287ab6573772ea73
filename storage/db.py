"""Engine and session setup: SQLite (WAL, busy timeout, synchronous=FULL) or PostgreSQL."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from storage.gate import Gate, Requests
from storage.one_trip import OneTrip, T, Transaction
from storage.sqlite_driver import one_trip_dbapi
from storage.uow import UnitOfWork

SQLITE_BUSY_TIMEOUT_MS = 10_000
WAL_SAFETY_PAGES = 20_000  # about 80 MB of log


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(url: str, *, echo: bool = False, readers: int = 0) -> AsyncEngine:
    """The engine; with ``readers``, a SQLite engine of that many read-only connections."""
    if not is_sqlite(url):
        return create_async_engine(url, echo=echo, pool_pre_ping=True, pool_size=10)
    if readers:
        engine = create_async_engine(
            url,
            echo=echo,
            module=one_trip_dbapi(),
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            pool_size=readers,
            max_overflow=0,
        )
        _configure_sqlite(engine, read_only=True)
        return engine
    # One connection: SQLite has one writer anyway. Units of work queue for it in
    # storage/gate.py (an asyncio wait, in order); queuing on SQLite's lock would be its
    # busy handler sleeping 1..100 ms at a time. busy_timeout still covers a second
    # process sharing the file.
    engine = create_async_engine(
        url,
        echo=echo,
        module=one_trip_dbapi(),  # one trip to the driver's thread per statement
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        pool_size=1,
        max_overflow=0,
        pool_timeout=SQLITE_BUSY_TIMEOUT_MS / 1000,
    )
    _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: AsyncEngine, *, read_only: bool = False) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The driver opens the transaction itself, as BEGIN IMMEDIATE, right before the
        # first write: no extra round trip for a BEGIN, reads never take the write lock,
        # and a writer waits for the lock (busy_timeout) rather than failing to upgrade a
        # read lock. Reads before that first write are outside the transaction; in this
        # process units of work take turns anyway (storage/gate.py), and every write that
        # depends on a read is a compare-and-set.
        dbapi_connection.isolation_level = "IMMEDIATE"
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # FULL: a committed outbox row survives a power cut, not just a crash.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        if read_only:  # a reader that tried to write would fail, not take the write lock
            cursor.execute("PRAGMA query_only=ON")
        else:
            # The writer does not stop to copy the log into the database every 1000
            # pages (SQLite's default: a commit that takes tens of milliseconds, with a
            # webhook waiting on it). The wal_checkpoint job does it beside the writer
            # (Database.checkpoint); this is the safety net should the job not run.
            cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_SAFETY_PAGES}")
        cursor.close()


class Database:
    """The engine, its sessions, and units of work over them."""

    def __init__(self, url: str, *, on_outbox_commit: Callable[[], None] | None = None) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._on_outbox_commit = on_outbox_commit
        # SQLite: units of work take turns at the one connection (see storage/gate.py);
        # reads of background work go to read-only connections beside it (WAL lets them
        # run while the writer writes), so they never hold the writer's turn.
        self.requests = Requests()  # answered by the HTTP layer; background gives way
        self._gate = Gate(requests=self.requests) if is_sqlite(url) else None
        self._one_trip = OneTrip(self.engine, self._gate)
        self._reader = make_engine(url, readers=2) if is_sqlite(url) else None
        self._reads = (
            async_sessionmaker(self._reader, expire_on_commit=False)
            if self._reader is not None
            else self.sessions
        )

    async def in_one_trip(self, transaction: Transaction[T]) -> T:
        """Run and commit a synchronous transaction function in one trip to the
        database (storage/one_trip.py)."""
        return await self._one_trip.run(transaction)

    async def checkpoint(self) -> tuple[int, int] | None:
        """SQLite: copy the write-ahead log into the database (PASSIVE: beside the
        writer, never blocking it) on a reader connection. Pages in the log, and pages
        copied; None on PostgreSQL."""
        if self._reader is None:
            return None
        async with self._reader.connect() as conn:
            row = (await conn.execute(text("PRAGMA wal_checkpoint(PASSIVE)"))).one()
        return int(row[1]), int(row[2])

    def outbox_committed(self) -> None:
        """Rows were committed outside a unit of work: wake the dispatcher."""
        if self._on_outbox_commit is not None:
            self._on_outbox_commit()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def set_outbox_listener(self, listener: Callable[[], None] | None) -> None:
        self._on_outbox_commit = listener

    def serving(self) -> contextlib.AbstractContextManager[None]:
        """Mark a request in flight: background work steps aside (see gate.py)."""
        return self.requests.serving()

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessions, on_outbox_commit=self._on_outbox_commit, gate=self._gate)

    def reads(self) -> UnitOfWork:
        """A unit of work that only reads: on SQLite it does not wait for the writer's
        connection (and cannot write: ``commit`` refuses). It sees what was committed
        before it began."""
        return UnitOfWork(self._reads, read_only=True)

    def session(self) -> AsyncSession:
        return self.sessions()

    async def ping(self) -> bool:
        try:
            async with self.uow() as uow:
                await uow.session.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self._reader is not None:
            await self._reader.dispose()
