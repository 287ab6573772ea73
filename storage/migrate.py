"""Apply Alembic migrations, safely when several replicas start at once.

PostgreSQL: a transaction-level advisory lock serialises the upgrades; SQLite: a lock
file beside the database (replicas sharing one SQLite file share one host).
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

MIGRATIONS = Path(__file__).parent / "migrations"
ADVISORY_LOCK_KEY = 0x6465736B68616E64  # "deskhand"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _upgrade(connection: Connection, url: str, revision: str) -> None:
    config = alembic_config(url)
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


@asynccontextmanager
async def _sqlite_lock(url: str) -> AsyncIterator[None]:
    database = make_url(url).database
    if not database or database == ":memory:":
        yield
        return
    lock_path = Path(database).with_name(Path(database).name + ".migrate-lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        # flock blocks: wait in a thread, so the event loop (and a concurrent upgrade in
        # this same process, which holds the lock) keeps running instead of deadlocking.
        await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


async def upgrade_database(url: str, revision: str = "head") -> None:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        if engine.dialect.name == "postgresql":
            async with engine.begin() as conn:
                await conn.execute(text(f"SELECT pg_advisory_xact_lock({ADVISORY_LOCK_KEY})"))
                await conn.run_sync(_upgrade, url, revision)
        else:
            async with _sqlite_lock(url), engine.begin() as conn:
                await conn.run_sync(_upgrade, url, revision)
    finally:
        await engine.dispose()


def upgrade_database_sync(url: str) -> None:
    asyncio.run(upgrade_database(url))
