"""The SQLite adapter (storage/sqlite_driver.py): one trip to aiosqlite's thread per
statement, with the same results, counts and errors as SQLAlchemy's own adapter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import make_engine
from storage.sqlite_driver import OneTripCursor


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    async with engine.begin() as conn:
        await conn.execute(
            text("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT UNIQUE, n INTEGER)")
        )
    try:
        yield engine
    finally:
        await engine.dispose()


async def trips_of(conn: Any) -> list[Any]:
    """Record every call handed to the aiosqlite connection's thread."""
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    calls: list[Any] = []
    original = driver._execute

    async def counting(fn: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(fn)
        return await original(fn, *args, **kwargs)

    driver._execute = counting
    return calls


async def test_each_statement_is_one_trip_with_its_rows_and_counts(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        calls = await trips_of(conn)
        inserted = await conn.execute(
            text("INSERT INTO items (name, n) VALUES (:name, :n) RETURNING id, name"),
            {"name": "a", "n": 1},
        )
        assert [tuple(row) for row in inserted] == [(1, "a")]
        many = await conn.execute(
            text("INSERT INTO items (name, n) VALUES (:name, :n)"),
            [{"name": "b", "n": 2}, {"name": "c", "n": 3}],
        )
        assert many.rowcount == 2
        updated = await conn.execute(text("UPDATE items SET n = n + 10 WHERE n >= 2"))
        assert updated.rowcount == 2
        missed = await conn.execute(text("UPDATE items SET n = 0 WHERE name = 'zz'"))
        assert missed.rowcount == 0
        rows = await conn.execute(text("SELECT name, n FROM items ORDER BY id"))
        assert [tuple(row) for row in rows] == [("a", 1), ("b", 12), ("c", 13)]
        assert await conn.scalar(text("SELECT count(*) FROM items WHERE n > 100")) == 0
        statements = len(calls)
        await conn.commit()
        # Six statements, six trips (SQLAlchemy's own adapter makes three or four
        # each), and the commit is one more.
        assert statements == 6
        assert len(calls) == 7


async def test_the_engine_uses_the_one_trip_cursor(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        assert isinstance(raw.dbapi_connection.cursor(), OneTripCursor)


async def test_errors_map_as_before_and_roll_back(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("INSERT INTO items (name, n) VALUES ('a', 1)"))
        with pytest.raises(IntegrityError):
            await conn.execute(text("INSERT INTO items (name, n) VALUES ('a', 2)"))
        await conn.rollback()
        with pytest.raises(OperationalError, match="no such table"):
            await conn.execute(text("SELECT * FROM nowhere"))
    async with engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM items")) == 0


async def test_streamed_results_still_work(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO items (name, n) VALUES (:name, :n)"),
            [{"name": f"i{k}", "n": k} for k in range(50)],
        )
    async with engine.connect() as conn:
        result = await conn.stream(text("SELECT n FROM items ORDER BY n"))
        seen = [row[0] async for row in result]
    assert seen == list(range(50))
