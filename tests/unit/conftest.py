"""Fixtures of the shared HTTP client's tests (test_http_client_*.py): a scripted server,
and a client whose sleeps and clock are recorded fakes (no test waits for real backoff)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.scripted_http import (
    FakeMonotonic,
    MakeClient,
    RecordingSleep,
    ScriptedServer,
    client_factory,
    running_server,
)


@pytest.fixture
async def server() -> AsyncIterator[ScriptedServer]:
    async with running_server() as srv:
        yield srv


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def clock() -> FakeMonotonic:
    return FakeMonotonic()


@pytest.fixture
async def make_client(sleep: RecordingSleep, clock: FakeMonotonic) -> AsyncIterator[MakeClient]:
    async with client_factory(sleep, clock) as make:
        yield make
