"""Shared fixtures. Keep this file short: put the logic in tests/support/."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.support import databases
from tests.support.postgres import PostgresServer

# Fails the session if a secret the tests configure shows up in any captured output.
pytest_plugins = ["tests.support.secret_scan"]


def pytest_configure(config: pytest.Config) -> None:
    # Tests that use ``database_url`` run against every backend. Opt out of PostgreSQL
    # only with a reason next to the marker, e.g.
    #   @pytest.mark.sqlite_only  # reason: exercises SQLite's file locking
    config.addinivalue_line(
        "markers", "sqlite_only: run this database test on SQLite only (state the reason)"
    )
    databases.enabled_backends()  # fail fast on a bad $DESKHAND_TEST_DATABASES


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Parametrizes ``database_url`` over $DESKHAND_TEST_DATABASES (default sqlite,postgresql).
    databases.parametrize_database_url(metafunc)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The throwaway PostgreSQL server: one per session (per xdist worker)."""
    if "postgresql" not in databases.enabled_backends():
        pytest.skip(f"PostgreSQL disabled by {databases.ENV_VAR}")
    with PostgresServer() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_template(postgres_server: PostgresServer) -> str:
    """Name of a migrated template database on ``postgres_server``, made once per session."""
    from storage.migrate import upgrade_database

    return databases.run_in_thread(
        lambda: databases.prepare_template(postgres_server, upgrade_database)
    )


@pytest.fixture
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """SQLAlchemy URL of a fresh, migrated database; parametrized as ``sqlite``/``pg``."""
    if request.param == "sqlite":
        from storage.migrate import upgrade_database

        url = databases.sqlite_url(tmp_path)
        await upgrade_database(url)
        yield url
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    template: str = request.getfixturevalue("postgres_template")
    name = await databases.create_test_database(server, template)
    try:
        yield server.url(name)
    finally:
        await server.drop_database(name)
