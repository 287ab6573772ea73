from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.harness import Harness, running


@pytest.fixture
async def desk(database_url: str) -> AsyncIterator[Harness]:
    """The running app with its stand-ins; fails the test on any Slack spec violation."""
    async with running(database_url) as harness:
        yield harness
        assert harness.slack.violations == [], harness.slack.violations
