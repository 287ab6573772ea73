"""The Slack stand-in, driven through slack_sdk's real AsyncWebClient, and the spec checker."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.web.async_client import AsyncWebClient

from bot.demo.slack_standin import SlackStandIn
from tests.support.slack_spec import SlackSpec, default_spec_path

TOKEN = "xoxb-test"
CHANNEL = "C0SUPPORT"
MODAL = {
    "type": "modal",
    "callback_id": "handoff",
    "title": {"type": "plain_text", "text": "Hand off"},
    "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Who takes it?"}}],
}
BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Escalation* opened"}}]


@pytest.fixture
async def standin() -> AsyncIterator[SlackStandIn]:
    server = SlackStandIn(bot_token=TOKEN, validator=SlackSpec.load().validate)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def client(standin: SlackStandIn) -> AsyncWebClient:
    return AsyncWebClient(token=TOKEN, base_url=standin.base_url)


def _error(exc: pytest.ExceptionInfo[SlackApiError]) -> Any:
    return exc.value.response.get("error")


# -- messages ----------------------------------------------------------------------------


async def test_start_returns_api_base_url_on_loopback(standin: SlackStandIn) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/api/", standin.base_url)


async def test_post_message_with_blocks(standin: SlackStandIn, client: AsyncWebClient) -> None:
    resp = await client.chat_postMessage(channel=CHANNEL, text="Escalation opened", blocks=BLOCKS)

    assert resp["ok"] and resp["channel"] == CHANNEL
    assert re.fullmatch(r"\d{10}\.\d{6}", resp["ts"])
    message = resp["message"]
    assert message["user"] == "U0DESKHAND" and message["bot_id"] and message["blocks"] == BLOCKS
    [stored] = standin.messages(CHANNEL)
    assert stored["ts"] == resp["ts"] and stored["text"] == "Escalation opened"
    [call] = standin.calls_to("chat.postMessage")
    assert call.ok and call.http_method == "POST" and call.args["blocks"] == BLOCKS
    assert call.headers["Authorization"] == f"Bearer {TOKEN}"
    assert standin.violations == []


async def test_ts_are_unique_and_increasing(client: AsyncWebClient) -> None:
    stamps = [(await client.chat_postMessage(channel=CHANNEL, text=str(i)))["ts"] for i in range(5)]
    assert stamps == sorted(stamps, key=float) and len(set(stamps)) == 5


async def test_thread_reply(standin: SlackStandIn, client: AsyncWebClient) -> None:
    parent = await client.chat_postMessage(channel=CHANNEL, text="parent")
    reply = await client.chat_postMessage(channel=CHANNEL, text="r1", thread_ts=parent["ts"])
    # A reply's ts as thread_ts lands in the parent's thread, as on Slack.
    await client.chat_postMessage(channel=CHANNEL, text="r2", thread_ts=reply["ts"])

    assert reply["message"]["thread_ts"] == parent["ts"]
    assert [m["text"] for m in standin.messages(CHANNEL)] == ["parent"]
    assert [m["text"] for m in standin.replies(CHANNEL, parent["ts"])] == ["r1", "r2"]
    assert standin.messages(CHANNEL)[0]["reply_count"] == 2
    with pytest.raises(SlackApiError) as exc:
        await client.chat_postMessage(channel=CHANNEL, text="x", thread_ts="1600000000.000001")
    assert _error(exc) == "thread_not_found"
    assert standin.violations == []


async def test_update(standin: SlackStandIn, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel=CHANNEL, text="open")
    resp = await client.chat_update(channel=CHANNEL, ts=posted["ts"], text="closed", blocks=BLOCKS)

    assert resp["ts"] == posted["ts"] and resp["text"] == "closed"
    [message] = standin.messages(CHANNEL)
    assert message["text"] == "closed" and message["blocks"] == BLOCKS and "edited" in message
    with pytest.raises(SlackApiError) as exc:
        await client.chat_update(channel=CHANNEL, ts="1600000000.000001", text="nope")
    assert _error(exc) == "message_not_found"
    assert standin.violations == []


async def test_ephemeral(standin: SlackStandIn, client: AsyncWebClient) -> None:
    resp = await client.chat_postEphemeral(
        channel=CHANNEL, user="U1", text="only you", blocks=BLOCKS
    )

    assert resp["message_ts"]
    assert [m["text"] for m in standin.ephemerals(CHANNEL, "U1")] == ["only you"]
    assert standin.ephemerals(CHANNEL, "U2") == [] and standin.messages(CHANNEL) == []
    assert standin.violations == []


async def test_reactions(standin: SlackStandIn, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel=CHANNEL, text="ack me")
    await client.reactions_add(channel=CHANNEL, timestamp=posted["ts"], name="eyes")

    assert standin.messages(CHANNEL)[0]["reactions"] == [
        {"name": "eyes", "users": ["U0DESKHAND"], "count": 1}
    ]
    with pytest.raises(SlackApiError) as exc:
        await client.reactions_add(channel=CHANNEL, timestamp=posted["ts"], name="eyes")
    assert _error(exc) == "already_reacted"
    assert standin.violations == []


async def test_history_newest_first_with_window_and_pagination(
    standin: SlackStandIn, client: AsyncWebClient
) -> None:
    stamps = [
        (await client.chat_postMessage(channel=CHANNEL, text=f"m{i}"))["ts"] for i in range(5)
    ]
    await client.chat_postMessage(channel=CHANNEL, text="in thread", thread_ts=stamps[0])

    full = await client.conversations_history(channel=CHANNEL)
    assert [m["text"] for m in full["messages"]] == ["m4", "m3", "m2", "m1", "m0"]
    assert full["has_more"] is False

    texts: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await client.conversations_history(channel=CHANNEL, limit=2, cursor=cursor)
        pages += 1
        texts += [m["text"] for m in page["messages"]]
        cursor = page["response_metadata"]["next_cursor"]
        if not cursor:
            break
    assert texts == ["m4", "m3", "m2", "m1", "m0"] and pages == 3

    window = await client.conversations_history(channel=CHANNEL, oldest=stamps[1], latest=stamps[4])
    assert [m["text"] for m in window["messages"]] == ["m3", "m2"]
    inclusive = await client.conversations_history(
        channel=CHANNEL, oldest=stamps[1], latest=stamps[3], inclusive=True
    )
    assert [m["text"] for m in inclusive["messages"]] == ["m3", "m2", "m1"]
    assert standin.violations == []


async def test_replies_oldest_first_with_pagination(
    standin: SlackStandIn, client: AsyncWebClient
) -> None:
    parent = (await client.chat_postMessage(channel=CHANNEL, text="parent"))["ts"]
    for i in range(4):
        await client.chat_postMessage(channel=CHANNEL, text=f"r{i}", thread_ts=parent)

    full = await client.conversations_replies(channel=CHANNEL, ts=parent)
    assert [m["text"] for m in full["messages"]] == ["parent", "r0", "r1", "r2", "r3"]

    first = await client.conversations_replies(channel=CHANNEL, ts=parent, limit=3)
    assert [m["text"] for m in first["messages"]] == ["parent", "r0", "r1"]
    assert first["has_more"] is True
    cursor = first["response_metadata"]["next_cursor"]
    second = await client.conversations_replies(channel=CHANNEL, ts=parent, limit=3, cursor=cursor)
    assert [m["text"] for m in second["messages"]] == ["r2", "r3"]
    assert second["response_metadata"]["next_cursor"] == ""
    with pytest.raises(SlackApiError) as exc:
        await client.conversations_replies(channel=CHANNEL, ts="1600000000.000001")
    assert _error(exc) == "thread_not_found"
    assert standin.violations == []


async def test_people_channels_permalinks(standin: SlackStandIn, client: AsyncWebClient) -> None:
    standin.add_user("U1", "ana", "Ana Lima", email="ana@example.com")
    standin.add_usergroup("S1", ["U1", "U2"])
    standin.add_channel(CHANNEL, "support")
    posted = await client.chat_postMessage(channel="#support", text="by name")

    user = (await client.users_info(user="U1"))["user"]
    assert user["real_name"] == "Ana Lima" and user["profile"]["email"] == "ana@example.com"
    with pytest.raises(SlackApiError) as exc:
        await client.users_info(user="U404")
    assert _error(exc) == "user_not_found"
    assert (await client.usergroups_users_list(usergroup="S1"))["users"] == ["U1", "U2"]
    info = await client.conversations_info(channel=CHANNEL)
    assert info["channel"]["name"] == "support"
    link = await client.chat_getPermalink(channel=CHANNEL, message_ts=posted["ts"])
    assert link["permalink"].endswith(f"/archives/{CHANNEL}/p{posted['ts'].replace('.', '')}")
    me = await client.auth_test()
    assert me["user_id"] == "U0DESKHAND" and me["team_id"] == "T0DEMO"
    assert standin.violations == []


async def test_views(standin: SlackStandIn, client: AsyncWebClient) -> None:
    opened = (await client.views_open(trigger_id="123.456.abc", view=MODAL))["view"]
    assert opened["id"] and opened["callback_id"] == "handoff"
    changed = {**MODAL, "title": {"type": "plain_text", "text": "Done"}}
    updated = await client.views_update(view_id=opened["id"], view=changed, hash=opened["hash"])
    assert updated["view"]["id"] == opened["id"]
    assert standin.view(opened["id"])["title"]["text"] == "Done"  # type: ignore[index]
    with pytest.raises(SlackApiError) as exc:
        await client.views_update(view_id=opened["id"], view=changed, hash=opened["hash"])
    assert _error(exc) == "hash_conflict"

    home = {"type": "home", "blocks": BLOCKS}
    published = await client.views_publish(user_id="U1", view=home)
    assert standin.home_view("U1")["id"] == published["view"]["id"]  # type: ignore[index]
    assert standin.violations == []


async def test_files_upload_v2(standin: SlackStandIn, client: AsyncWebClient) -> None:
    resp = await client.files_upload_v2(
        channel=CHANNEL, content="log line\n", filename="ticket.log", initial_comment="Logs"
    )
    file_id = resp["files"][0]["id"]
    assert standin.file_content(file_id) == b"log line\n"
    [message] = standin.messages(CHANNEL)
    assert message["text"] == "Logs" and message["files"][0]["id"] == file_id
    assert [c.method for c in standin.calls] == [
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
    ]
    assert standin.violations == []


# -- auth and encodings ------------------------------------------------------------------


async def test_wrong_token_is_invalid_auth(standin: SlackStandIn) -> None:
    bad = AsyncWebClient(token="xoxb-wrong", base_url=standin.base_url)
    with pytest.raises(SlackApiError) as exc:
        await bad.chat_postMessage(channel=CHANNEL, text="x")
    assert exc.value.response.status_code == 200 and _error(exc) == "invalid_auth"
    assert standin.messages(CHANNEL) == [] and standin.calls[0].ok is False


async def test_missing_token_and_form_token(standin: SlackStandIn) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{standin.base_url}auth.test") as resp:
            assert resp.status == 200
            assert await resp.json() == {"ok": False, "error": "not_authed"}
        blocks = json.dumps(BLOCKS)
        form = {"token": TOKEN, "channel": CHANNEL, "text": "hi", "blocks": blocks}
        async with http.post(f"{standin.base_url}chat.postMessage", data=form) as resp:
            assert (await resp.json())["ok"] is True
    call = standin.calls_to("chat.postMessage")[0]
    assert call.args["blocks"] == BLOCKS and "token" not in call.args  # decoded, token dropped
    assert standin.messages(CHANNEL)[0]["blocks"] == BLOCKS
    # The bot must use the Authorization header: both calls are flagged.
    assert len(standin.violations) == 2
    assert all("Authorization: Bearer" in v for v in standin.violations)


# -- failure switches --------------------------------------------------------------------


async def test_fail_next_503_then_success(standin: SlackStandIn, client: AsyncWebClient) -> None:
    standin.fail_next("chat.postMessage")
    with pytest.raises(SlackApiError) as exc:
        await client.chat_postMessage(channel=CHANNEL, text="first try")
    assert exc.value.response.status_code == 503
    assert standin.messages(CHANNEL) == []  # a failed post did not post

    await client.chat_postMessage(channel=CHANNEL, text="second try")
    assert [m["text"] for m in standin.messages(CHANNEL)] == ["second try"]
    assert [(c.ok, c.status) for c in standin.calls] == [(False, 503), (True, 200)]


async def test_fail_next_with_retrying_client(standin: SlackStandIn) -> None:
    retry = AsyncServerErrorRetryHandler(
        max_retry_count=2, interval_calculator=FixedValueRetryIntervalCalculator(0.0)
    )
    client = AsyncWebClient(token=TOKEN, base_url=standin.base_url, retry_handlers=[retry])
    standin.fail_next(count=2)  # any method
    await client.chat_postMessage(channel=CHANNEL, text="eventually")
    assert [c.status for c in standin.calls] == [503, 503, 200]
    assert len(standin.messages(CHANNEL)) == 1


async def test_fail_next_only_hits_its_method(
    standin: SlackStandIn, client: AsyncWebClient
) -> None:
    standin.fail_next("reactions.add", status=200, error="channel_not_found")
    await client.chat_postMessage(channel=CHANNEL, text="unaffected")
    with pytest.raises(SlackApiError) as exc:
        await client.reactions_add(channel=CHANNEL, name="eyes", timestamp="1")
    assert exc.value.response.status_code == 200 and _error(exc) == "channel_not_found"


async def test_rate_limited_with_retry_after(standin: SlackStandIn, client: AsyncWebClient) -> None:
    standin.fail_next("chat.postMessage", retry_after=7)
    with pytest.raises(SlackApiError) as exc:
        await client.chat_postMessage(channel=CHANNEL, text="too fast")
    assert exc.value.response.status_code == 429
    assert exc.value.response.headers["Retry-After"] == "7"
    assert _error(exc) == "ratelimited"
    [call] = standin.calls
    assert (call.ok, call.status, call.error) == (False, 429, "ratelimited")
    assert standin.messages(CHANNEL) == []

    # slack_sdk's rate-limit handler honours Retry-After (0 here) and then succeeds.
    retrying = AsyncWebClient(
        token=TOKEN, base_url=standin.base_url, retry_handlers=[AsyncRateLimitErrorRetryHandler()]
    )
    standin.fail_next("chat.postMessage", retry_after=0)
    await retrying.chat_postMessage(channel=CHANNEL, text="patient")
    assert [c.status for c in standin.calls_to("chat.postMessage")] == [429, 429, 200]


async def test_down_and_come_back(standin: SlackStandIn, client: AsyncWebClient) -> None:
    standin.go_down()
    for method in (client.auth_test(), client.chat_postMessage(channel=CHANNEL, text="x")):
        with pytest.raises(SlackApiError) as exc:
            await method
        assert exc.value.response.status_code == 503
    assert [(c.method, c.ok) for c in standin.calls] == [
        ("auth.test", False),
        ("chat.postMessage", False),
    ]
    assert standin.messages(CHANNEL) == []

    standin.come_back()
    await client.chat_postMessage(channel=CHANNEL, text="back")
    assert [m["text"] for m in standin.messages(CHANNEL)] == ["back"]


async def test_slow_and_wait_for(standin: SlackStandIn, client: AsyncWebClient) -> None:
    standin.slow(0.2)
    task = asyncio.create_task(client.chat_postMessage(channel=CHANNEL, text="late"))
    await standin.wait_for(lambda: len(standin.calls) == 1)
    assert standin.messages(CHANNEL) == []  # arrived, not yet answered
    await standin.wait_for(lambda: len(standin.messages(CHANNEL)) == 1, timeout=2)
    await task
    with pytest.raises(AssertionError, match=r"timed out after 0\.05s waiting for a reply"):
        await standin.wait_for(lambda: False, timeout=0.05, description="a reply")


async def test_reset(standin: SlackStandIn, client: AsyncWebClient) -> None:
    standin.add_user("U1", "ana", "Ana")
    await client.chat_postMessage(channel=CHANNEL, text="kept")
    standin.fail_next()
    standin.reset()
    assert standin.calls == [] and standin.violations == []
    await client.chat_postMessage(channel=CHANNEL, text="not failed")
    assert len(standin.messages(CHANNEL)) == 2
    standin.reset(state=True)
    assert standin.messages(CHANNEL) == []
    assert (await client.users_info(user="U1"))["ok"]


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
    assert _error(exc) == "unknown_method"
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


def test_spec_path_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DESKHAND_SPECS_DIR", str(tmp_path))
    assert default_spec_path() == tmp_path / "slack_web_openapi_v2.json"


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


async def test_rejected_post_changes_nothing(standin: SlackStandIn, client: AsyncWebClient) -> None:
    with pytest.warns(UserWarning, match="text"), pytest.raises(SlackApiError) as exc:
        await client.chat_postMessage(channel="C0NEW", text="")
    assert _error(exc) == "no_text"
    with pytest.raises(SlackApiError) as exc:
        await client.conversations_history(channel="C0NEW")
    assert _error(exc) == "channel_not_found"  # the failed post did not create the channel
