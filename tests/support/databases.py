"""Per-test databases on every enabled backend (the ``database_url`` fixture's logic)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.support.postgres import PostgresServer, quote_ident

ENV_VAR = "DESKHAND_TEST_DATABASES"
BACKENDS = {"sqlite": "sqlite", "postgresql": "pg"}  # backend -> test id
_ALIASES = {"pg": "postgresql", "postgres": "postgresql"}
TEMPLATE = "deskhand_template"

Migrate = Callable[[str], Awaitable[None]]
T = TypeVar("T")


def enabled_backends() -> list[str]:
    """Backends named in $DESKHAND_TEST_DATABASES (default: all), in canonical order."""
    raw = os.environ.get(ENV_VAR) or ",".join(BACKENDS)  # unset or empty: all
    wanted = {_ALIASES.get(n, n) for n in (p.strip().lower() for p in raw.split(",")) if n}
    unknown = wanted - set(BACKENDS)
    if unknown:
        raise pytest.UsageError(
            f"{ENV_VAR}: unknown backend(s) {sorted(unknown)}; choose from {list(BACKENDS)}"
        )
    return [b for b in BACKENDS if b in wanted]


def parametrize_database_url(metafunc: pytest.Metafunc) -> None:
    """Run every test that (indirectly) uses ``database_url`` once per enabled backend."""
    if "database_url" not in metafunc.fixturenames:
        return
    backends = enabled_backends()
    if metafunc.definition.get_closest_marker("sqlite_only"):
        backends = [b for b in backends if b == "sqlite"]
    params = [
        pytest.param(b, id=BACKENDS[b], marks=[pytest.mark.postgres] if b != "sqlite" else [])
        for b in backends
    ]
    if not params:
        reason = f"no backend for this test enabled by {ENV_VAR}"
        params = [pytest.param(None, id="none", marks=pytest.mark.skip(reason=reason))]
    metafunc.parametrize("database_url", params, indirect=True)


def sqlite_url(directory: Path) -> str:
    return f"sqlite+aiosqlite:///{directory}/deskhand.db"


async def prepare_template(server: PostgresServer, migrate: Migrate, name: str = TEMPLATE) -> str:
    """Create database ``name``, migrate it, and make it a connection-free template."""
    await server.create_database(name)
    await migrate(server.url(name))
    # CREATE DATABASE ... TEMPLATE fails while anything is connected to the template
    # (e.g. a connection pool the migration forgot to dispose), so close and lock it.
    await server.execute(
        f"ALTER DATABASE {quote_ident(name)} WITH ALLOW_CONNECTIONS false IS_TEMPLATE true"
    )
    await server.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
    )
    return name


async def create_test_database(server: PostgresServer, template: str | None) -> str:
    """A new uniquely named database (a copy of ``template``); returns its name."""
    name = f"test_{uuid.uuid4().hex}"
    await server.create_database(name, template=template)
    return name


def run_in_thread(coro_factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion on a private event loop in a worker thread.

    Lets session-scoped *sync* fixtures do async set-up without touching the event
    loop pytest-asyncio manages in the main thread.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(coro_factory())).result()
