"""Migrations: safe when replicas start together, idempotent, and faithful to the models;
the `deskhand db upgrade` command; SQLite's connection settings."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import structlog
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, MetaData, String, event, func, inspect, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from bot.cli import main
from storage.db import Database
from storage.migrate import alembic_config, upgrade_database, upgrade_database_sync
from storage.models import Base, HandoffEvent
from tests.support import databases
from tests.support.handoff_rows import T0, handoff_values
from tests.support.postgres import PostgresServer

HEAD = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
TABLES = set(Base.metadata.tables) | {"alembic_version"}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty, never-migrated database (not a copy of the migrated template)."""
    if request.param == "sqlite":
        yield databases.sqlite_url(tmp_path)
        return
    if "postgresql" not in databases.enabled_backends():
        pytest.skip(f"PostgreSQL disabled by {databases.ENV_VAR}")
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = await databases.create_test_database(server, template=None)
    try:
        yield server.url(name)
    finally:
        await server.drop_database(name)


async def versions(url: str) -> list[str]:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            return list(
                (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars()
            )
    finally:
        await engine.dispose()


async def table_names(url: str) -> set[str]:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


@pytest.fixture
def statements() -> Iterator[list[str]]:
    """Every SQL statement any engine runs while the fixture is active."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", record)


# -- concurrent and repeated upgrades ------------------------------------------------------------


async def test_concurrent_upgrades_on_an_empty_database_all_succeed(empty_url: str) -> None:
    assert await table_names(empty_url) == set()
    results = await asyncio.gather(
        *(upgrade_database(empty_url) for _ in range(3)), return_exceptions=True
    )
    assert results == [None, None, None]
    assert await versions(empty_url) == [HEAD]
    assert await table_names(empty_url) == TABLES


async def test_concurrent_upgrades_from_separate_threads_all_succeed(empty_url: str) -> None:
    # Like replicas starting together: each upgrade on its own event loop.
    results = await asyncio.gather(
        *(asyncio.to_thread(upgrade_database_sync, empty_url) for _ in range(3)),
        return_exceptions=True,
    )
    assert results == [None, None, None]
    assert await versions(empty_url) == [HEAD]
    assert await table_names(empty_url) == TABLES


async def test_upgrading_an_up_to_date_database_changes_nothing(
    empty_url: str, statements: list[str]
) -> None:
    await upgrade_database(empty_url)
    db = Database(empty_url)
    try:
        async with db.uow() as uow:
            await uow.outbox.add("k", {"a": 1}, key="survivor", now=datetime.now(UTC))
            await uow.commit()
    finally:
        await db.dispose()

    statements.clear()
    await upgrade_database(empty_url)
    writes = [
        s
        for s in statements
        if s.lstrip().split(None, 1)[0].upper() in {"CREATE", "ALTER", "DROP", "INSERT", "UPDATE"}
        or s.lstrip().upper().startswith("DELETE")
    ]
    assert statements, "the second upgrade ran no SQL at all: is the listener working?"
    assert writes == []
    assert await versions(empty_url) == [HEAD]
    db = Database(empty_url)
    try:
        async with db.uow() as uow:
            assert (await uow.outbox.stats()).pending == 1
    finally:
        await db.dispose()


async def test_widening_identities_keeps_every_row_and_fits_what_did_not(
    empty_url: str,
) -> None:
    """0004 rebuilds tables on SQLite: a handoff's events and messages must survive it (no
    cascade), and afterwards a ticketing system's long identity fits on both backends."""
    await upgrade_database(empty_url, "0003")
    tables = Base.metadata.tables
    engine = create_async_engine(empty_url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            inserted = await conn.execute(
                tables["handoffs"].insert().values(**handoff_values(version=1))
            )
            assert inserted.inserted_primary_key is not None
            pk = inserted.inserted_primary_key[0]
            await conn.execute(
                tables["handoff_events"].insert().values(handoff_pk=pk, kind="received", at=T0)
            )
            await conn.execute(
                tables["handoff_messages"]
                .insert()
                .values(
                    handoff_pk=pk, direction="customer", external_id="m-1", text="hi", created_at=T0
                )
            )
        await upgrade_database(empty_url)
        assert await versions(empty_url) == [HEAD]
        actor = "zendesk:" + "a" * 64 + "@" + "b" * 255  # an e-mail of 320 characters
        async with engine.begin() as conn:
            await conn.execute(
                tables["handoffs"]
                .update()
                .values(claimed_by=actor, resolved_by=actor, claimed_by_name="n" * 400)
            )
            counts = [
                (await conn.execute(select(func.count()).select_from(tables[name]))).scalar()
                for name in ("handoffs", "handoff_events", "handoff_messages")
            ]
            stored = (await conn.execute(select(tables["handoffs"].c.resolved_by))).scalar()
    finally:
        await engine.dispose()
    assert counts == [1, 1, 1]
    assert stored == actor


# -- schema versus models --------------------------------------------------------------------


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(context, Base.metadata))


async def test_the_migrated_schema_matches_the_models(database_url: str) -> None:
    # Nothing is ignored: the models declare no server defaults and no dialect-specific
    # types, so both backends must reflect exactly what Base.metadata describes.
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            differences = await conn.run_sync(_differences)
    finally:
        await engine.dispose()
    assert differences == []


async def test_the_schema_comparison_would_notice_a_drift(database_url: str) -> None:
    # Guards the test above against passing vacuously.
    drifted = MetaData()
    for table in Base.metadata.tables.values():
        table.to_metadata(drifted)
    drifted.tables["outbox"].append_column(Column("extra", String(5)))

    def compare(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, drifted))

    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            differences = await conn.run_sync(compare)
    finally:
        await engine.dispose()
    assert [d[0] for d in differences] == ["add_column"]


async def test_foreign_keys_are_enforced(database_url: str) -> None:
    db = Database(database_url)
    try:
        with pytest.raises(IntegrityError):
            async with db.uow() as uow:
                uow.session.add(
                    HandoffEvent(
                        handoff_pk=999_999, kind="x", actor=None, detail=None, at=datetime.now(UTC)
                    )
                )
                await uow.session.flush()
    finally:
        await db.dispose()


# -- SQLite connection settings ---------------------------------------------------------------


@pytest.mark.sqlite_only  # reason: PRAGMAs exist only on SQLite
async def test_sqlite_connections_are_configured(database_url: str) -> None:
    db = Database(database_url)

    async def pragmas(conn: Any) -> dict[str, Any]:
        names = ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
        return {n: (await conn.exec_driver_sql(f"PRAGMA {n}")).scalar() for n in names}

    try:
        seen = []
        # Through a unit of work (the app's path) and on a brand-new pooled connection.
        async with db.uow() as uow:
            seen.append(await pragmas(await uow.session.connection()))
        await db.engine.dispose()
        async with db.engine.connect() as conn:
            seen.append(await pragmas(conn))
    finally:
        await db.dispose()
    for found in seen:
        assert str(found["journal_mode"]).lower() == "wal"
        assert found["synchronous"] == 2  # FULL
        assert found["busy_timeout"] > 0
        assert found["foreign_keys"] == 1


# -- the CLI -----------------------------------------------------------------------------------


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    """A clean environment for `main`, and the logging set-up it changes put back after."""
    for name in list(os.environ):
        if name.startswith(("DESKHAND_", "SLACK_")) and name != databases.ENV_VAR:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env file
    saved_structlog = structlog.get_config()
    root = logging.getLogger()
    saved_root = (list(root.handlers), root.level)
    try:
        yield monkeypatch
    finally:
        structlog.configure(**saved_structlog)
        root.handlers[:] = saved_root[0]
        root.setLevel(saved_root[1])


def test_cli_db_upgrade_migrates_sqlite(
    cli_env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = databases.sqlite_url(tmp_path)
    cli_env.setenv("DESKHAND_DATABASE_URL", url)
    assert main(["db", "upgrade"]) == 0
    assert "up to date" in capsys.readouterr().out
    assert asyncio.run(versions(url)) == [HEAD]
    assert asyncio.run(table_names(url)) == TABLES
    assert main(["db", "upgrade"]) == 0  # and again: a no-op
    assert asyncio.run(versions(url)) == [HEAD]


@pytest.mark.postgres
def test_cli_db_upgrade_migrates_postgresql(
    cli_env: pytest.MonkeyPatch, postgres_server: PostgresServer
) -> None:
    name = databases.run_in_thread(
        lambda: databases.create_test_database(postgres_server, template=None)
    )
    url = postgres_server.url(name)
    try:
        cli_env.setenv("DESKHAND_DATABASE_URL", url)
        assert main(["db", "upgrade"]) == 0
        assert asyncio.run(versions(url)) == [HEAD]
        assert asyncio.run(table_names(url)) == TABLES
    finally:
        databases.run_in_thread(lambda: postgres_server.drop_database(name))


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DESKHAND_TICKETING", "jira"),
        ("DESKHAND_PORT", "not-a-port"),
        ("DESKHAND_DATABASE_URL", "mysql://localhost/deskhand"),
        ("DESKHAND_CHATBOT_CALLBACK_URL", "not a url"),
    ],
)
def test_cli_refuses_a_bad_configuration_in_one_line(
    cli_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    variable: str,
    value: str,
) -> None:
    cli_env.setenv("DESKHAND_DATABASE_URL", databases.sqlite_url(tmp_path))
    cli_env.setenv(variable, value)
    assert main(["db", "upgrade"]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert variable in lines[0]
    assert "Traceback" not in captured.err
    assert captured.out == ""
    assert not (tmp_path / "deskhand.db").exists()  # nothing was migrated
