"""The Slack spec checker: through the stand-in, and on its own."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.demo.slack_standin import SlackStandIn
from tests.support.slack_spec import SlackSpec, default_spec_path
from tests.support.standin_client import (
    BLOCKS,
    CHANNEL,
    MODAL,
    make_client,
    running_standin,
    slack_error,
)


@pytest.fixture
async def standin() -> AsyncIterator[SlackStandIn]:
    async with running_standin() as server:
        yield server


@pytest.fixture
def client(standin: SlackStandIn) -> AsyncWebClient:
    return make_client(standin)


# -- the validator, through the stand-in -------------------------------------------------


async def test_validator_catches_missing_required_arg(
    standin: SlackStandIn, client: AsyncWebClient
) -> None:
    with pytest.raises(SlackApiError):
        await client.api_call("chat.update", json={"channel": CHANNEL, "text": "no ts"})
    assert standin.violations == ["chat.update: required parameter 'ts' is missing"]


async def test_validator_catches_wrong_type(standin: SlackStandIn, client: AsyncWebClient) -> None:
    await client.chat_postMessage(channel=CHANNEL, text="x")
    with pytest.raises(SlackApiError):
        await client.api_call(
            "conversations.history", http_verb="GET", params={"channel": CHANNEL, "limit": "lots"}
        )
    await client.api_call("chat.postMessage", json={"channel": CHANNEL, "text": 42})
    assert len(standin.violations) == 2
    assert "conversations.history: parameter 'limit' should be integer" in standin.violations[0]
    assert "chat.postMessage: parameter 'text' should be string" in standin.violations[1]


async def test_validator_catches_unknown_method(
    standin: SlackStandIn, client: AsyncWebClient
) -> None:
    with pytest.raises(SlackApiError) as exc:
        await client.api_call("chat.frobnicate", json={"channel": CHANNEL})
    assert slack_error(exc) == "unknown_method"
    assert standin.calls[0].ok is False
    assert "chat.frobnicate: unknown_method (not implemented by the stand-in)" in standin.violations
    assert "chat.frobnicate: method 'chat.frobnicate' is not in the Slack spec" in (
        standin.violations
    )


async def test_validator_catches_unknown_parameter(
    standin: SlackStandIn, client: AsyncWebClient
) -> None:
    await client.chat_postMessage(channel=CHANNEL, text="x", colour="red")
    assert standin.violations == ["chat.postMessage: unknown parameter 'colour'"]


async def test_validator_accepts_newer_arguments_slack_sdk_sends(
    standin: SlackStandIn, client: AsyncWebClient
) -> None:
    metadata = {"event_type": "escalation", "event_payload": {"id": 7}}
    posted = await client.chat_postMessage(
        channel=CHANNEL, text="x", metadata=metadata, unfurl_links=False, reply_broadcast=False
    )
    await client.chat_update(channel=CHANNEL, ts=posted["ts"], text="y", metadata=metadata)
    await client.conversations_history(channel=CHANNEL, include_all_metadata=True, inclusive=True)
    assert standin.violations == []


# -- the spec checker on its own ---------------------------------------------------------


def test_spec_load_is_cached_and_has_the_methods() -> None:
    spec = SlackSpec.load()
    assert SlackSpec.load() is spec
    assert SlackSpec.load(default_spec_path()) is spec
    assert spec.operation("chat.postMessage") is not None
    assert spec.operation("views.open").http_method == "GET"  # type: ignore[union-attr]
    assert spec.operation("files.getUploadURLExternal") is not None  # newer, allowlisted
    assert spec.operation("chat.frobnicate") is None


def test_spec_is_the_copy_in_the_repository() -> None:
    repository = Path(__file__).resolve().parents[2]
    assert default_spec_path() == repository / "tests" / "specs" / "slack_web_openapi_v2.json"


@pytest.mark.parametrize(
    ("method", "verb", "args"),
    [
        # views.* are GET in the spec; clients POST them with a JSON view.
        ("views.open", "POST", {"trigger_id": "1.2.3", "view": MODAL}),
        ("views.open", "POST", {"trigger_id": "1.2.3", "view": json.dumps(MODAL)}),
        ("views.open", "POST", {"interactivity_pointer": "1.2.3", "view": MODAL}),
        ("chat.postMessage", "POST", {"channel": "C1", "blocks": json.dumps(BLOCKS)}),
        ("chat.postMessage", "POST", {"channel": "C1", "mrkdwn": "false", "as_user": True}),
        ("conversations.history", "GET", {"channel": "C1", "limit": "10", "inclusive": "1"}),
        ("conversations.history", "GET", {"channel": "C1", "oldest": "1700000000.000100"}),
        ("conversations.replies", "GET", {"channel": "C1", "ts": "1700000000.000100"}),
        ("files.getUploadURLExternal", "POST", {"filename": "a.txt", "length": "12"}),
        ("files.completeUploadExternal", "POST", {"files": '[{"id": "F1"}]'}),
        ("auth.test", "POST", {"token": "xoxb-in-a-field"}),
    ],
)
def test_spec_accepts(method: str, verb: str, args: dict[str, Any]) -> None:
    assert SlackSpec.load().validate(method, verb, args) == []


@pytest.mark.parametrize(
    ("method", "args", "problem"),
    [
        ("chat.update", {"channel": "C1", "text": "x"}, "required parameter 'ts' is missing"),
        ("views.open", {"view": MODAL}, "required parameter 'trigger_id' is missing"),
        ("conversations.history", {}, "required parameter 'channel' is missing"),
        ("chat.postMessage", {"channel": "C1", "mrkdwn": "yes"}, "'mrkdwn' should be boolean"),
        ("chat.postMessage", {"channel": "C1", "blocks": "[oops"}, "'blocks' is not valid JSON"),
        ("chat.postMessage", {"channel": "C1", "blocks": {"a": 1}}, "should be a JSON list"),
        ("conversations.history", {"channel": "C1", "oldest": "yesterday"}, "should be number"),
        ("users.info", {"user": "U1", "colour": "red"}, "unknown parameter 'colour'"),
        ("chat.postEphemeral", {"channel": "C1", "user": "U1", "metadata": {}}, "unknown param"),
    ],
)
def test_spec_rejects(method: str, args: dict[str, Any], problem: str) -> None:
    problems = SlackSpec.load().validate(method, "POST", args)
    assert len(problems) == 1 and problem in problems[0], problems


def test_spec_checks_headers() -> None:
    spec = SlackSpec.load()
    args = {"channel": "C1"}
    good = {"Authorization": "Bearer xoxb-1", "Content-Type": "application/json; charset=utf-8"}
    assert spec.validate("chat.postMessage", "POST", {**args, "text": "x"}, headers=good) == []
    assert spec.validate("chat.postMessage", "POST", args, headers={}) == [
        "no 'Authorization: Bearer <token>' header"
    ]
    # Slack ignores JSON bodies on read methods; the spec says they consume forms only.
    [problem] = spec.validate("conversations.history", "POST", args, headers=good)
    assert problem.startswith("JSON body sent")
