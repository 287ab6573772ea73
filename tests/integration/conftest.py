from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from storage.db import Database


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """A Database on a fresh, migrated database (every backend)."""
    database = Database(database_url)
    try:
        yield database
    finally:
        await database.dispose()
