"""When Slack or the chatbot fail, work waits in the outbox and happens exactly once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from bot.clock import FakeClock
from bot.demo.chatbot_standin import Callback
from bot.handoffs.actions import HandoffAction
from bot.jobs import update_gauges
from bot.outbox.kinds import OutboxKind
from tests.support.harness import CHANNEL, HANDOFF, Harness, running, standins

HID = HANDOFF["handoff_id"]
MESSAGE = OutboxKind.SLACK_HANDOFF_MESSAGE


def _posts(desk: Harness) -> list[str]:
    """ts of the top-level messages Slack holds for the handoffs (thread parents)."""
    return [m["ts"] for m in desk.slack.messages(CHANNEL)]


def _keys(callbacks: list[Callback]) -> list[str | None]:
    return [c.idempotency_key for c in callbacks]


async def test_slack_down_for_a_while_then_back_posts_once(desk: Harness) -> None:
    # The bot is invited to the escalation channel before its first post (see manifest.yml):
    # its history is readable then, as deskhand's retries expect.
    desk.slack.add_channel(CHANNEL, "escalations")
    desk.slack.go_down()
    status, _ = await desk.handoff()
    assert status == 202
    await desk.settle_ready()
    assert desk.posted_message() is None
    # The chatbot does not wait for Slack.
    assert desk.chatbot.of_type("handoff_status", status="queued")

    for _ in range(5):
        await desk.advance_ready(40)
    rows = await desk.outbox_rows(MESSAGE)
    first = rows[0]
    assert first.status == "pending", "still retrying, not given up"
    assert first.attempts >= 4
    assert first.last_error and "503" in first.last_error
    assert all(row.status == "pending" for row in rows)
    # Each retry asked Slack again (first whether the post had gone through after all).
    assert len([c for c in desk.slack.calls if not c.ok]) >= first.attempts
    assert desk.posted_message() is None

    desk.slack.come_back()
    await desk.advance(120)

    post = desk.posted_message()
    assert post is not None
    assert _posts(desk) == [post["ts"]]
    assert len([c for c in desk.slack.calls_to("chat.postMessage") if c.ok]) == 1
    stored = await desk.stored_handoff()
    assert stored is not None and stored.slack_ts == post["ts"]
    assert {row.status for row in await desk.outbox_rows()} == {"done"}
    # The message shows the latest state (the ticket made while Slack was down).
    assert "local #LOC-" in str(post["blocks"])


async def test_a_lost_response_does_not_post_twice(desk: Harness) -> None:
    desk.slack.add_channel(CHANNEL, "escalations")
    desk.slack_ts_follow_clock()
    desk.slack.lose_next_response("chat.postMessage")
    await desk.handoff()
    await desk.settle_ready()
    # Slack did post; deskhand only saw a 503, so the row waits for its retry.
    [lost] = desk.slack.calls_to("chat.postMessage")
    assert not lost.ok and lost.status == 503
    assert len(_posts(desk)) == 1
    [row, *_] = await desk.outbox_rows(MESSAGE)
    assert row.status == "pending" and row.last_error

    await desk.advance(10)

    assert len(_posts(desk)) == 1, "the retry found the message instead of posting again"
    post = desk.posted_message()
    assert post is not None
    stored = await desk.stored_handoff()
    assert stored is not None and stored.slack_ts == post["ts"]
    assert stored.slack_channel == CHANNEL
    # Later changes update that message in place.
    assert await desk.click(HandoffAction.CLAIM) == 200
    await desk.settle()
    assert _posts(desk) == [post["ts"]]
    updated = desk.posted_message()
    assert updated is not None and HandoffAction.RELEASE in str(updated["blocks"])


async def test_chatbot_down_during_claim_gets_the_callback_once(desk: Harness) -> None:
    await desk.handoff()
    await desk.settle()
    received_before = len(desk.chatbot.received)

    desk.chatbot.fail_next(3)
    assert await desk.click(HandoffAction.CLAIM) == 200
    await desk.settle()
    assert desk.chatbot.of_type("handoff_status", status="claimed") == []
    for _ in range(4):
        if desk.chatbot.of_type("handoff_status", status="claimed"):
            break
        await desk.advance(30)

    [claimed] = desk.chatbot.of_type("handoff_status", status="claimed")
    attempts = desk.chatbot.received[received_before:]
    assert len(attempts) == 4  # three refused, one accepted
    assert all(a.body == claimed for a in attempts)
    assert len(set(_keys(attempts))) == 1 and attempts[0].idempotency_key
    assert all(a.signature_ok for a in attempts)
    [row] = [
        r
        for r in await desk.outbox_rows(OutboxKind.CHATBOT_CALLBACK)
        if r.idempotency_key == attempts[0].idempotency_key
    ]
    assert row.status == "done" and row.attempts == 2


async def test_work_left_in_the_outbox_survives_a_restart(database_url: str) -> None:
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    ids = [f"restart:{i}" for i in range(3)]
    async with standins(clock) as (slack, chatbot):
        slack.add_channel(CHANNEL, "escalations")
        async with running(database_url, slack=slack, chatbot=chatbot, clock=clock) as first:
            slack.go_down()
            for handoff_id in ids:
                status, _ = await first.handoff(handoff_id=handoff_id, session_id=handoff_id)
                assert status == 202
            await first.settle_ready()
            assert slack.messages(CHANNEL) == []
            delivered_before_restart = len(chatbot.callbacks)
            assert delivered_before_restart == 6  # queued, then queued with the ticket id

        slack.come_back()
        async with running(database_url, slack=slack, chatbot=chatbot, clock=clock) as second:
            await second.advance(700)
            for handoff_id in ids:
                assert second.posted_message(handoff_id) is not None, handoff_id
            assert len(slack.messages(CHANNEL)) == 3
            assert len([c for c in slack.calls_to("chat.postMessage") if c.ok]) == 3
            for handoff_id in ids:
                stored = await second.stored_handoff(handoff_id)
                post = second.posted_message(handoff_id)
                assert stored is not None and post is not None
                assert stored.slack_ts == post["ts"]
                assert len(chatbot.of_type("handoff_status", handoff_id=handoff_id)) == 2
            assert {row.status for row in await second.outbox_rows()} == {"done"}

        keys = _keys(chatbot.received)
        assert len(keys) == len(set(keys)) == len(chatbot.callbacks) == 6
        assert slack.violations == []


def _deliveries_in_flight() -> list[asyncio.Task[Any]]:
    return [
        task
        for task in asyncio.all_tasks()
        if getattr(task.get_coro(), "__qualname__", "") == "OutboxDispatcher._deliver"
    ]


async def test_stopping_mid_post_leaves_nothing_running_and_posts_once(
    database_url: str,
) -> None:
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    async with standins(clock) as (slack, chatbot):
        slack.add_channel(CHANNEL, "escalations")
        async with running(database_url, slack=slack, chatbot=chatbot, clock=clock) as first:
            first.slack_ts_follow_clock()
            slack.slow(0.3)
            await first.handoff()
            await slack.wait_for(lambda: bool(slack.calls_to("chat.postMessage")))
        # Stopped while Slack was still working on the post: stop() waited for every
        # delivery to unwind before it closed the database.
        assert _deliveries_in_flight() == []
        # Slack finishes the post; deskhand never heard of it.
        await slack.wait_for(lambda: len(slack.messages(CHANNEL)) == 1)
        slack.slow(0)

        async with running(database_url, slack=slack, chatbot=chatbot, clock=clock) as second:
            await second.advance(130)  # past the stopped worker's lease
            post = second.posted_message()
            assert post is not None
            assert [m["ts"] for m in slack.messages(CHANNEL)] == [post["ts"]]
            stored = await second.stored_handoff()
            assert stored is not None and stored.slack_ts == post["ts"]
            assert {row.status for row in await second.outbox_rows()} == {"done"}
        assert slack.violations == []


async def test_a_slack_error_that_cannot_heal_is_a_dead_letter(desk: Harness) -> None:
    desk.slack.fail_next("chat.postMessage", status=200, error="channel_not_found", count=50)
    await desk.handoff()
    await desk.settle()

    rows = await desk.outbox_rows(MESSAGE)
    assert rows and all(row.status == "dead" for row in rows)
    assert all("channel_not_found" in (row.last_error or "") for row in rows)
    assert rows[0].attempts == 1, "a permanent error is not retried"
    await desk.advance(3600)
    # One try each (the channel's dead-letter alerts, refused the same way, aside).
    posts = [
        call
        for call in desk.slack.calls_to("chat.postMessage")
        if "given up on" not in str(call.args.get("text"))
    ]
    assert len(posts) == len(rows)
    assert desk.posted_message() is None

    await update_gauges(desk.app)
    status, text, content_type = await desk.get("/metrics")
    assert status == 200 and content_type.startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(text)}
    [sample] = families["deskhand_outbox_dead_letters"].samples
    # The alerts about them were refused too (channel_not_found), and raised no more alerts.
    alerts = await desk.outbox_rows(OutboxKind.SLACK_DEAD_LETTER_ALERT)
    assert len(alerts) == len(rows) and all(alert.status == "dead" for alert in alerts)
    assert sample.value == len(rows) + len(alerts)
