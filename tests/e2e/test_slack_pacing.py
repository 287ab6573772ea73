"""Pacing against a Slack that enforces its limits: a burst of handoffs into one channel is
delivered without a dead letter and (practically) without a 429, each posted once.

The stand-in enforces Slack's limits and the app paces to them on the same clock (real
monotonic time), both SCALE times faster than Slack, so that 30 posts at "one a second"
take a second or two (``running(slack_limits=...)``).
"""

from __future__ import annotations

import asyncio

from bot.handoffs.mapping import message_marker
from bot.slack_api import PacedWebClient
from tests.support.harness import CHANNEL, Harness, running

SCALE = 20.0
HANDOFFS = 30
PRIORITIES = ("low", "normal", "high", "urgent")


def markers_posted(desk: Harness, ids: list[str]) -> list[str]:
    """The handoff markers (of ``ids``) on top-level messages in the channel, in order."""
    wanted = {message_marker(h) for h in ids}
    found: list[str] = []
    for message in desk.slack.messages(CHANNEL):
        found += [
            str(b["block_id"]) for b in message.get("blocks") or [] if b.get("block_id") in wanted
        ]
    return found


async def burst(desk: Harness, prefix: str, count: int = HANDOFFS) -> list[str]:
    """``count`` handoffs at once, of mixed priorities; their ids."""
    ids = [f"{prefix}-{i:02d}" for i in range(count)]
    answers = await asyncio.gather(
        *(
            desk.handoff(
                handoff_id=h, session_id=f"s-{h}", priority=PRIORITIES[i % len(PRIORITIES)]
            )
            for i, h in enumerate(ids)
        )
    )
    assert {status for status, _ in answers} <= {200, 201, 202}, answers
    return ids


async def delivered(desk: Harness, ids: list[str], within: float = 15.0) -> None:
    await desk.wait_until(lambda: all(desk.posted_message(h) for h in ids), within=within)
    await desk.settle(within=within)


async def test_a_burst_into_one_channel_is_paced_under_slacks_limits(database_url: str) -> None:
    async with running(database_url, slack_limits=SCALE) as desk:
        assert desk.slack.limits is not None
        ids = await burst(desk, "burst")
        await delivered(desk, ids)

        posted = markers_posted(desk, ids)
        assert sorted(posted) == sorted(message_marker(h) for h in ids)  # each exactly once
        rows = await desk.outbox_rows()
        assert [r for r in rows if r.status == "dead"] == []
        assert [r.id for r in rows if r.status != "done"] == []
        refusals = desk.slack.limits.refusals
        assert len(refusals) <= 3, refusals  # paced: none expected, a handful tolerated
        assert desk.slack.violations == []
        # The pacing did the work: 30 posts are past the short burst, so callers waited.
        assert isinstance(desk.app.slack, PacedWebClient) and desk.app.slack.pacer is not None
        assert desk.app.slack.pacer.waited > 0
        # Posts never ran ahead of one channel's budget (the stand-in would have said 429).
        assert len(desk.slack.calls_to("chat.postMessage")) >= HANDOFFS


async def test_a_429_is_waited_out_and_costs_the_delivery_nothing(database_url: str) -> None:
    async with running(database_url, slack_limits=SCALE) as desk:
        desk.slack.fail_next("chat.postMessage", retry_after=1)  # Slack's own 429, 1 s
        ids = await burst(desk, "paused", 10)
        await delivered(desk, ids)

        assert sorted(markers_posted(desk, ids)) == sorted(message_marker(h) for h in ids)
        statuses = [c.status for c in desk.slack.calls_to("chat.postMessage")]
        assert statuses.count(429) >= 1
        posts = await desk.outbox_rows("slack.handoff_message")  # each post, and its update
        assert len(posts) >= len(ids)
        assert {r.status for r in posts} == {"done"}
        # The client waited the Retry-After and tried again itself: no outbox retry, so no
        # attempt was spent and no conversations.history look-up was needed.
        assert {r.attempts for r in posts} == {1}
        assert desk.slack.calls_to("conversations.history") == []
        assert desk.slack.violations == []
