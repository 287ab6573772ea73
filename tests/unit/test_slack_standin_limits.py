"""The Slack stand-in enforcing Slack's rate limits (bot/demo/slack_limits.py), on a fake
monotonic clock: 429 with Retry-After past a budget, nothing changed, every 429 recorded."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.demo.slack_limits import POST_PER_CHANNEL, POST_PER_WORKSPACE, TIERS, Refusal
from bot.demo.slack_standin import SlackStandIn
from bot.slack_api import make_slack_client
from integrations.slack_pacing import SlackPacer

TOKEN = "xoxb-limits"
CHANNEL_BURST = POST_PER_CHANNEL[1]


class FakeTime:
    """A monotonic clock shared by the stand-in and the pacer; sleeping moves it."""

    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeTime:
    return FakeTime()


@pytest.fixture
async def standin() -> AsyncIterator[SlackStandIn]:
    async with SlackStandIn(bot_token=TOKEN) as slack:
        yield slack


@pytest.fixture
def client(standin: SlackStandIn) -> AsyncWebClient:
    return AsyncWebClient(token=TOKEN, base_url=standin.base_url)  # unpaced, no retries


async def post(client: AsyncWebClient, channel: str, text: str = "hi") -> int:
    """chat.postMessage; the HTTP status it was answered with."""
    try:
        await client.chat_postMessage(channel=channel, text=text)
    except SlackApiError as exc:
        return int(exc.response.status_code)
    return 200


async def test_off_by_default(standin: SlackStandIn, client: AsyncWebClient) -> None:
    assert standin.limits is None
    assert [await post(client, "C1") for _ in range(CHANNEL_BURST + 5)] == [200] * (
        CHANNEL_BURST + 5
    )


async def test_a_channel_burst_then_429_with_retry_after(
    standin: SlackStandIn, client: AsyncWebClient, clock: FakeTime
) -> None:
    limits = standin.enforce_limits(monotonic=clock)
    for i in range(CHANNEL_BURST):
        assert await post(client, "C1", f"m{i}") == 200
    with pytest.raises(SlackApiError) as refused:
        await client.chat_postMessage(channel="C1", text="one too many")
    response = refused.value.response
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1"
    assert response.data == {"ok": False, "error": "ratelimited"}
    assert [m["text"] for m in standin.messages("C1")] == [f"m{i}" for i in range(CHANNEL_BURST)]
    assert limits.refusals == [Refusal("chat.postMessage", "C1", 1, clock.now)]
    assert limits.count() == limits.count("chat.postMessage") == 1
    assert standin.calls[-1].status == 429 and standin.calls[-1].error == "ratelimited"
    clock.now += 1.0  # one a second
    assert await post(client, "C1") == 200
    assert await post(client, "C1") == 429


async def test_channels_and_methods_have_their_own_budgets(
    standin: SlackStandIn, client: AsyncWebClient, clock: FakeTime
) -> None:
    standin.enforce_limits(monotonic=clock)
    assert {await post(client, "C1") for _ in range(CHANNEL_BURST)} == {200}
    assert await post(client, "C1") == 429
    assert await post(client, "C2") == 200
    await client.conversations_history(channel="C1")  # another method: its own budget


async def test_a_tier_budget(
    standin: SlackStandIn, client: AsyncWebClient, clock: FakeTime
) -> None:
    limits = standin.enforce_limits(monotonic=clock)
    per_minute, burst = TIERS["tier2"]  # usergroups.users.list
    standin.add_usergroup("S1", ["U1"])
    for _ in range(burst):
        await client.usergroups_users_list(usergroup="S1")
    with pytest.raises(SlackApiError) as refused:
        await client.usergroups_users_list(usergroup="S1")
    assert refused.value.response.headers["Retry-After"] == str(int(60 / per_minute))
    assert limits.count("usergroups.users.list") == 1


async def test_the_workspace_budget_for_posts(
    standin: SlackStandIn, client: AsyncWebClient, clock: FakeTime
) -> None:
    limits = standin.enforce_limits(monotonic=clock)
    burst = POST_PER_WORKSPACE[1]
    assert {await post(client, f"C{i}") for i in range(burst)} == {200}
    assert await post(client, "C-new") == 429  # a fresh channel, but the workspace is spent
    assert limits.refusals[-1].channel == "C-new"


async def test_scale_runs_the_limits_faster(
    standin: SlackStandIn, client: AsyncWebClient, clock: FakeTime
) -> None:
    standin.enforce_limits(scale=20, monotonic=clock)
    assert {await post(client, "C1") for _ in range(CHANNEL_BURST)} == {200}
    assert await post(client, "C1") == 429
    clock.now += 0.05  # a second's budget, twenty times faster
    assert await post(client, "C1") == 200


async def test_unpaced_bursts_are_refused_and_paced_ones_are_not(
    standin: SlackStandIn, client: AsyncWebClient, clock: FakeTime
) -> None:
    """The control: the same 20 posts into one channel, sent at once and then paced."""
    limits = standin.enforce_limits(monotonic=clock)
    statuses = [await post(client, "C1", f"raw {i}") for i in range(20)]
    assert statuses.count(429) == 20 - CHANNEL_BURST
    clock.now += 60
    limits.refusals.clear()
    pacer = SlackPacer(monotonic=clock, sleep=clock.sleep)
    paced = make_slack_client(token=TOKEN, base_url=standin.base_url, timeout=5, pacer=pacer)
    started = clock.now
    for i in range(20):
        await paced.chat_postMessage(channel="C1", text=f"paced {i}")
    assert limits.refusals == []
    assert clock.now - started == pytest.approx(20 - 3)  # the pacer's burst of 3, then 1/s
    assert len([m for m in standin.messages("C1") if m["text"].startswith("paced")]) == 20
