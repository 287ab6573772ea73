"""A whole transaction as one function, run in one trip to the database.

The hot path (a handoff webhook awaiting its 202) writes three statements and commits.
Through the async session each statement is a trip to aiosqlite's thread and back, and
under load every trip waits for the busy event loop to notice it is done. Here the
transaction is a plain synchronous function of a SQLAlchemy ``Connection``, and:

- on SQLite it runs on aiosqlite's own thread, on the writer's sqlite3 connection (held
  for it, in its turn at the gate): one trip for the statements and the commit;
- on PostgreSQL it runs through ``AsyncConnection.run_sync`` in one transaction (asyncpg
  has no thread to hop to).

The same function serves both, so there is one version of the SQL.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import StaticPool

from storage.gate import Gate, held_turn

T = TypeVar("T")
Transaction = Callable[[Connection], T]


class OneTrip:
    def __init__(self, engine: AsyncEngine, gate: Gate | None) -> None:
        self._engine = engine
        self._gate = gate
        # A synchronous engine over the writer's sqlite3 connection, built on its thread;
        # built again should the pool ever replace that connection.
        self._sync: tuple[sqlite3.Connection, Engine] | None = None

    async def run(self, transaction: Transaction[T]) -> T:
        """Run and commit; an exception rolls it back and reaches the caller."""
        if self._gate is None:
            async with self._engine.begin() as conn:
                return await conn.run_sync(transaction)
        async with held_turn(self._gate), self._engine.connect() as conn:
            raw = await conn.get_raw_connection()
            driver: Any = raw.driver_connection  # the aiosqlite connection
            # aiosqlite internals, as in storage/sqlite_driver.py: run on its thread.
            result: T = await driver._execute(self._in_thread, driver._conn, transaction)
            return result

    def _in_thread(self, raw: sqlite3.Connection, transaction: Transaction[T]) -> T:
        if self._sync is None or self._sync[0] is not raw:
            # Over the very same sqlite3 connection (its pragmas and BEGIN IMMEDIATE
            # included); only ever used here, on that connection's thread.
            engine = create_engine("sqlite://", creator=lambda: raw, poolclass=StaticPool)
            self._sync = (raw, engine)
        with self._sync[1].connect() as conn:
            result = transaction(conn)
            conn.commit()
        return result
