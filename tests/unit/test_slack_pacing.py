"""The pacer's buckets (integrations/slack_pacing.py) and the paced client (bot/slack_api.py),
on a fake clock whose sleep moves it: nothing here waits for real."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from slack_sdk.errors import SlackApiError

from bot.app import create_app
from bot.demo.slack_standin import SlackStandIn
from bot.slack_api import PacedWebClient, call, channel_of, make_slack_client
from integrations.errors import RateLimited
from integrations.slack_pacing import (
    MAX_WAIT,
    METHOD_LIMITS,
    POST_PER_CHANNEL,
    TIER_1,
    TIER_2,
    TIER_3,
    TIER_4,
    UNPACED,
    SlackPacer,
)
from tests.support.harness import settings_for

TOKEN = "xoxb-pacing"


class FakeTime:
    """A monotonic clock; ``sleep`` advances it instead of waiting, and records the wait."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeTime:
    return FakeTime()


def pacer_on(clock: FakeTime, **kwargs: float) -> SlackPacer:
    return SlackPacer(monotonic=clock, sleep=clock.sleep, **kwargs)


def test_tiers_are_slacks_published_rates() -> None:
    assert [TIER_1.per_minute, TIER_2.per_minute, TIER_3.per_minute, TIER_4.per_minute] == [
        1,
        20,
        50,
        100,
    ]
    assert POST_PER_CHANNEL.per_minute == 60  # one a second per channel
    assert METHOD_LIMITS["chat.update"] is TIER_3
    assert METHOD_LIMITS["chat.postEphemeral"] is TIER_4
    assert METHOD_LIMITS["usergroups.users.list"] is TIER_2
    assert METHOD_LIMITS["views.publish"] is TIER_4


async def test_a_burst_then_one_post_a_second(clock: FakeTime) -> None:
    pacer = pacer_on(clock)
    started = clock.now
    sent: list[float] = []
    for _ in range(8):
        await pacer.acquire("chat.postMessage", "C1")
        sent.append(clock.now - started)
    burst = POST_PER_CHANNEL.burst
    assert sent[:burst] == [0.0] * burst  # the short burst goes at once
    steady = [b - a for a, b in zip(sent[burst - 1 :], sent[burst:], strict=False)]
    assert steady == pytest.approx([1.0] * (8 - burst))  # then one a second


async def test_a_quiet_spell_refills_the_burst(clock: FakeTime) -> None:
    pacer = pacer_on(clock)
    waits = [pacer.reserve("chat.postMessage", "C1") for _ in range(POST_PER_CHANNEL.burst + 1)]
    assert waits[-1] == pytest.approx(1.0)
    clock.now += 60
    assert [pacer.reserve("chat.postMessage", "C1") for _ in range(POST_PER_CHANNEL.burst)] == [
        0.0
    ] * POST_PER_CHANNEL.burst


async def test_concurrent_callers_queue_at_the_paced_rate(clock: FakeTime) -> None:
    pacer = pacer_on(clock)
    sent: list[float] = []

    async def post() -> None:
        await pacer.acquire("chat.postMessage", "C1")
        sent.append(clock.now)

    start = clock.now
    await asyncio.gather(*(post() for _ in range(6)))
    # Reservations, not a race: each caller got its own slot one second after the last.
    assert sorted(t - start for t in sent) == pytest.approx([0, 0, 0, 1, 2, 3])


async def test_channels_are_paced_independently(clock: FakeTime) -> None:
    pacer = pacer_on(clock)
    for _ in range(POST_PER_CHANNEL.burst):
        assert pacer.reserve("chat.postMessage", "C1") == 0.0
    assert pacer.reserve("chat.postMessage", "C1") > 0  # C1 is spent
    assert pacer.reserve("chat.postMessage", "C2") == 0.0  # C2 is not
    assert pacer.reserve("chat.update", "C1") == 0.0  # nor another method in C1


async def test_methods_are_paced_by_their_tier(clock: FakeTime) -> None:
    pacer = pacer_on(clock, max_wait=1000)
    for method, limit in (("chat.update", TIER_3), ("usergroups.users.list", TIER_2)):
        waits = [pacer.reserve(method, "C1") for _ in range(limit.burst + 2)]
        assert waits[: limit.burst] == [0.0] * limit.burst
        interval = 60 / limit.per_minute
        assert waits[limit.burst :] == pytest.approx([interval, 2 * interval])


async def test_a_429_pauses_the_bucket_for_everyone(clock: FakeTime) -> None:
    pacer = pacer_on(clock)
    pacer.pause("chat.postMessage", "C1", 3.0)
    waits = [pacer.reserve("chat.postMessage", "C1") for _ in range(3)]
    assert waits == pytest.approx([3.0, 4.0, 5.0])  # no new burst after the pause
    assert pacer.reserve("chat.postMessage", "C2") == 0.0  # another channel goes on

    pacer.pause("chat.update", None, 2.0)  # a method's 429 pauses the method, any channel
    assert pacer.reserve("chat.update", "C9") == pytest.approx(2.0)
    assert pacer.reserve("views.publish") == 0.0


async def test_a_429_without_retry_after_pauses_a_moment(clock: FakeTime) -> None:
    pacer = pacer_on(clock)
    pacer.pause("chat.update", None, None)
    assert pacer.reserve("chat.update") == pytest.approx(1.0)


async def test_the_bound_raises_rate_limited_and_takes_nothing(clock: FakeTime) -> None:
    pacer = pacer_on(clock, max_wait=2.0)
    pacer.pause("chat.postMessage", "C1", 30.0)
    with pytest.raises(RateLimited) as limited:
        await pacer.acquire("chat.postMessage", "C1")
    assert limited.value.retry_after == pytest.approx(30.0)
    assert limited.value.system == "slack"
    assert clock.sleeps == []  # it did not wait to say so
    clock.now += 30
    assert pacer.reserve("chat.postMessage", "C1") == 0.0  # the refused call took no slot


async def test_the_bound_caps_a_queue(clock: FakeTime) -> None:
    pacer = pacer_on(clock, max_wait=2.0)
    outcomes: list[float | str] = []
    for _ in range(POST_PER_CHANNEL.burst + 4):
        try:
            outcomes.append(pacer.reserve("chat.postMessage", "C1"))
        except RateLimited as exc:
            outcomes.append(f"deferred {exc.retry_after:.0f}s")
    burst = [0.0] * POST_PER_CHANNEL.burst
    assert outcomes == [*burst, 1.0, 2.0, "deferred 3s", "deferred 3s"]


async def test_scale_runs_every_rate_faster(clock: FakeTime) -> None:
    pacer = pacer_on(clock, scale=20)
    waits = [pacer.reserve("chat.postMessage", "C1") for _ in range(POST_PER_CHANNEL.burst + 2)]
    assert waits[-2:] == pytest.approx([0.05, 0.10])
    with pytest.raises(ValueError, match="positive"):
        SlackPacer(scale=0)


def test_unpaced_methods_and_channels_of_calls(clock: FakeTime) -> None:
    pacer = pacer_on(clock)
    assert "apps.connections.open" in UNPACED
    assert [pacer.reserve("apps.connections.open") for _ in range(5)] == [0.0] * 5
    assert channel_of({"channel": "C1", "text": "x"}) == "C1"
    assert channel_of(None, {"channel_id": "C2"}) == "C2"
    assert channel_of(None, None, None) is None


# -- the paced client against the Slack stand-in -----------------------------------------


@pytest.fixture
async def standin() -> AsyncIterator[SlackStandIn]:
    async with SlackStandIn(bot_token=TOKEN) as slack:
        yield slack


def paced_client(standin: SlackStandIn, pacer: SlackPacer) -> PacedWebClient:
    return make_slack_client(token=TOKEN, base_url=standin.base_url, timeout=5, pacer=pacer)


async def test_the_client_takes_a_turn_per_call(standin: SlackStandIn, clock: FakeTime) -> None:
    client = paced_client(standin, pacer_on(clock))
    for i in range(POST_PER_CHANNEL.burst + 2):
        await call("chat.postMessage", client.chat_postMessage(channel="C1", text=f"m{i}"))
    assert clock.sleeps == pytest.approx([1.0, 1.0])  # paced past the burst, per channel
    await call("conversations.history", client.conversations_history(channel="C1"))
    assert len(clock.sleeps) == 2  # another method: its own bucket
    assert len(standin.messages("C1")) == POST_PER_CHANNEL.burst + 2


async def test_a_429_waits_retry_after_and_is_tried_again(
    standin: SlackStandIn, clock: FakeTime
) -> None:
    pacer = pacer_on(clock)
    client = paced_client(standin, pacer)
    standin.fail_next("chat.postMessage", retry_after=2)
    await call("chat.postMessage", client.chat_postMessage(channel="C1", text="hello"))
    assert [c.status for c in standin.calls_to("chat.postMessage")] == [429, 200]
    assert clock.sleeps == pytest.approx([2.0])  # the pause, on the pacer's clock
    # The pause held for everyone: the next post in C1 took the steady rate, not a burst.
    assert pacer.reserve("chat.postMessage", "C1") == pytest.approx(1.0)


async def test_a_long_retry_after_defers_instead_of_waiting(
    standin: SlackStandIn, clock: FakeTime
) -> None:
    client = paced_client(standin, pacer_on(clock, max_wait=5))
    standin.fail_next("chat.postMessage", retry_after=60)
    with pytest.raises(RateLimited) as limited:
        await call("chat.postMessage", client.chat_postMessage(channel="C1", text="hello"))
    assert limited.value.retry_after == pytest.approx(60.0)
    assert clock.sleeps == []  # nothing waited: the outbox row is deferred instead
    assert len(standin.calls_to("chat.postMessage")) == 1


async def test_repeated_429s_end_as_rate_limited(standin: SlackStandIn, clock: FakeTime) -> None:
    client = paced_client(standin, pacer_on(clock))
    standin.fail_next("chat.update", retry_after=1, count=5)
    with pytest.raises(RateLimited) as limited:
        await call("chat.update", client.chat_update(channel="C1", ts="1.1", text="x"))
    assert limited.value.retry_after == 1.0
    assert len(standin.calls_to("chat.update")) == 3  # the call and two retries


async def test_other_failures_are_not_retried(standin: SlackStandIn, clock: FakeTime) -> None:
    client = paced_client(standin, pacer_on(clock))
    standin.fail_next("chat.postMessage", status=503)
    with pytest.raises(SlackApiError):
        await client.chat_postMessage(channel="C1", text="hello")
    assert len(standin.calls_to("chat.postMessage")) == 1  # the outbox decides, not the client


async def test_without_a_pacer_the_client_is_plain(standin: SlackStandIn) -> None:
    client = make_slack_client(token=TOKEN, base_url=standin.base_url, timeout=5)
    assert client.pacer is None and client.retry_handlers == []
    for i in range(POST_PER_CHANNEL.burst + 3):
        await client.chat_postMessage(channel="C1", text=f"m{i}")
    assert len(standin.messages("C1")) == POST_PER_CHANNEL.burst + 3


def test_the_app_paces_its_one_client_at_slacks_rates(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'd.db'}"
    settings = settings_for(url, "http://127.0.0.1:9/api/", "http://127.0.0.1:9/callbacks")
    app = create_app(settings)
    assert isinstance(app.slack, PacedWebClient) and app.slack.retry_handlers == []
    pacer = app.slack.pacer
    assert pacer is not None and (pacer.scale, pacer.max_wait) == (1.0, MAX_WAIT)
    assert app.directory._client is app.slack  # one client, so one set of buckets
