"""Shared pieces of the Slack stand-in tests: a running stand-in, its token and payloads.

Each test module wraps :func:`running_standin` in its own ``standin`` fixture and builds a
``client`` on it with :func:`make_client`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.demo.slack_standin import SlackStandIn
from tests.support.slack_spec import SlackSpec

TOKEN = "xoxb-test"
CHANNEL = "C0SUPPORT"
MODAL = {
    "type": "modal",
    "callback_id": "handoff",
    "title": {"type": "plain_text", "text": "Hand off"},
    "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Who takes it?"}}],
}
BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Escalation* opened"}}]


@asynccontextmanager
async def running_standin() -> AsyncIterator[SlackStandIn]:
    """A started stand-in for ``TOKEN`` that checks every call against the Slack spec."""
    server = SlackStandIn(bot_token=TOKEN, validator=SlackSpec.load().validate)
    await server.start()
    yield server
    await server.stop()


def make_client(standin: SlackStandIn) -> AsyncWebClient:
    return AsyncWebClient(token=TOKEN, base_url=standin.base_url)


def slack_error(exc: pytest.ExceptionInfo[SlackApiError]) -> Any:
    """The Slack error code of a raised :class:`SlackApiError`."""
    return exc.value.response.get("error")
