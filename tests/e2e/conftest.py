from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.support.harness import Harness, running
from tests.support.slack_delivery import SlackMode, slack_mode_default

# Scenario files that run in both Slack modes: over HTTP and over Socket Mode. The rest
# run over HTTP only: what they test lies behind the transport, and the suite stays fast.
BOTH_SLACK_MODES = frozenset(
    {
        "test_escalation_flow",
        "test_claims",
        "test_desk_and_health",
        "test_slack_redelivery",
        "test_approvals_flow",
    }
)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    module = metafunc.module.__name__.rsplit(".", 1)[-1]
    if "slack_mode" in metafunc.fixturenames and module in BOTH_SLACK_MODES:
        metafunc.parametrize("slack_mode", ["http", "socket"], indirect=True)


@pytest.fixture
def slack_mode(request: pytest.FixtureRequest) -> SlackMode:
    """How Slack reaches the app in this test: "http" unless parametrized above."""
    mode: SlackMode = getattr(request, "param", "http")
    return mode


@pytest.fixture(autouse=True)
def _slack_mode_for_every_app(slack_mode: SlackMode) -> Iterator[None]:
    # Apps a test builds itself (approval_desk, restarts) get the test's mode too.
    with slack_mode_default(slack_mode):
        yield


@pytest.fixture
async def desk(database_url: str, slack_mode: SlackMode) -> AsyncIterator[Harness]:
    """The running app with its stand-ins; fails the test on any Slack spec violation."""
    async with running(database_url, slack_mode=slack_mode) as harness:
        yield harness
        assert harness.slack.violations == [], harness.slack.violations
