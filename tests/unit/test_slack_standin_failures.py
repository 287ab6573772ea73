"""The Slack stand-in's auth, encodings and failure switches, through slack_sdk's client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

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
from tests.support.standin_client import (
    BLOCKS,
    CHANNEL,
    TOKEN,
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


# -- auth and encodings ------------------------------------------------------------------


async def test_wrong_token_is_invalid_auth(standin: SlackStandIn) -> None:
    bad = AsyncWebClient(token="xoxb-wrong", base_url=standin.base_url)
    with pytest.raises(SlackApiError) as exc:
        await bad.chat_postMessage(channel=CHANNEL, text="x")
    assert exc.value.response.status_code == 200 and slack_error(exc) == "invalid_auth"
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
    assert exc.value.response.status_code == 200 and slack_error(exc) == "channel_not_found"


async def test_rate_limited_with_retry_after(standin: SlackStandIn, client: AsyncWebClient) -> None:
    standin.fail_next("chat.postMessage", retry_after=7)
    with pytest.raises(SlackApiError) as exc:
        await client.chat_postMessage(channel=CHANNEL, text="too fast")
    assert exc.value.response.status_code == 429
    assert exc.value.response.headers["Retry-After"] == "7"
    assert slack_error(exc) == "ratelimited"
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


# -- rejected calls ----------------------------------------------------------------------


async def test_rejected_post_changes_nothing(standin: SlackStandIn, client: AsyncWebClient) -> None:
    with pytest.warns(UserWarning, match="text"), pytest.raises(SlackApiError) as exc:
        await client.chat_postMessage(channel="C0NEW", text="")
    assert slack_error(exc) == "no_text"
    with pytest.raises(SlackApiError) as exc:
        await client.conversations_history(channel="C0NEW")
    assert slack_error(exc) == "channel_not_found"  # the failed post did not create the channel
