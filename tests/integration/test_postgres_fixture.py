"""The throwaway PostgreSQL server and per-test databases work.

Independent of storage.migrate: these tests use ``postgres_server`` directly, with a
stand-in migration where a template database is needed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tests.support import databases
from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.postgres

_seen_urls: set[str] = set()


@pytest.fixture
async def empty_database_url(postgres_server: PostgresServer) -> AsyncIterator[str]:
    name = await databases.create_test_database(postgres_server, template=None)
    try:
        yield postgres_server.url(name)
    finally:
        await postgres_server.drop_database(name)


@pytest.fixture
async def engine(empty_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(empty_database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def _public_tables(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        result = await conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
        )
        return list(result.scalars())


async def test_select_one_and_version(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1
        version = (await conn.execute(text("SHOW server_version"))).scalar_one()
    assert int(version.split(".")[0]) >= 15, version


# Run twice: whichever runs second must get another database and must not see the table
# the first one created (order-independent, so it also holds under xdist).
@pytest.mark.parametrize("run", [1, 2])
async def test_each_test_gets_its_own_empty_database(
    run: int, empty_database_url: str, engine: AsyncEngine
) -> None:
    assert empty_database_url not in _seen_urls
    _seen_urls.add(empty_database_url)
    assert await _public_tables(engine) == []
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE probe (id integer PRIMARY KEY)"))
        await conn.execute(text("INSERT INTO probe VALUES (:run)"), {"run": run})
    assert await _public_tables(engine) == ["probe"]


async def test_databases_copied_from_a_migrated_template_are_independent(
    postgres_server: PostgresServer,
) -> None:
    leaked: list[AsyncEngine] = []

    async def stand_in_migration(url: str) -> None:
        # Stands in for storage.migrate.upgrade_database. Leaves its pool open on
        # purpose: prepare_template must still leave a usable template.
        engine = create_async_engine(url)
        leaked.append(engine)
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE widget (id integer PRIMARY KEY)"))
            await conn.execute(text("INSERT INTO widget VALUES (1)"))

    template = await databases.prepare_template(
        postgres_server, stand_in_migration, name="stand_in_template"
    )
    names = [await databases.create_test_database(postgres_server, template) for _ in "ab"]
    engines = [create_async_engine(postgres_server.url(name)) for name in names]
    try:
        async with engines[0].begin() as conn:
            await conn.execute(text("INSERT INTO widget VALUES (2)"))
        counts = []
        for engine in engines:
            async with engine.connect() as conn:
                counts.append((await conn.execute(text("SELECT count(*) FROM widget"))).scalar())
        assert counts == [2, 1]
    finally:
        for engine in [*engines, *leaked]:
            await engine.dispose()
        for name in names:
            await postgres_server.drop_database(name)
        await postgres_server.execute(f"ALTER DATABASE {template} WITH IS_TEMPLATE false")
        await postgres_server.drop_database(template)
