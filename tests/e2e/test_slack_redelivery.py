"""Slack redelivers events and shows deskhand its own echoes: each reply counts once,
and only people's replies in a handoff's thread count at all."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.handoffs.actions import HandoffAction
from storage.models import HandoffMessage, OutboxRow, TicketComment
from tests.support.harness import AGENT, CHANNEL, HANDOFF, Harness

HID = HANDOFF["handoff_id"]
BOT_USER = "U0DESKHAND"


async def _claimed(desk: Harness) -> str:
    await desk.handoff()
    await desk.settle()
    assert await desk.click(HandoffAction.CLAIM) == 200
    await desk.settle()
    post = desk.posted_message()
    assert post is not None
    return str(post["ts"])


async def _snapshot(desk: Harness) -> tuple[int, int, int, int, int]:
    return (
        await desk.count(HandoffMessage),
        await desk.count(OutboxRow),
        await desk.count(TicketComment),
        len(desk.chatbot.received),
        len(desk.slack.calls),
    )


def _event(text: str, ts: str, **extra: Any) -> dict[str, Any]:
    event = {
        "type": "message",
        "channel": CHANNEL,
        "user": AGENT[0],
        "text": text,
        "ts": ts,
        "event_ts": ts,
        "channel_type": "channel",
    }
    event.update(extra)
    return event


async def test_a_redelivered_reply_reaches_the_customer_once(desk: Harness) -> None:
    await _claimed(desk)

    ts = await desk.thread_reply("Your invoice is on its way.", event_id="Ev0REPLY01")
    for retry in (1, 2):
        await desk.thread_reply(
            "Your invoice is on its way.", ts=ts, event_id="Ev0REPLY01", retry_num=retry
        )
    # The same message again, under a new event id (Slack does that too).
    await desk.thread_reply("Your invoice is on its way.", ts=ts, event_id="Ev0REPLY02")
    await desk.settle()

    [reply] = desk.chatbot.of_type("agent_message")
    assert reply["text"] == "Your invoice is on its way."
    assert reply["message_id"] == f"slack-{ts}"
    assert reply["agent"] == {"id": AGENT[0], "name": AGENT[1]}
    assert len([c for c in desk.chatbot.received if c.body["type"] == "agent_message"]) == 1
    async with desk.app.db.uow() as uow:
        comments = list(await uow.session.scalars(select(TicketComment.body)))
    assert comments == ["Your invoice is on its way."]
    assert await desk.count(HandoffMessage) == 1
    reactions = [c for c in desk.slack.calls_to("reactions.add") if c.ok]
    assert [c.args["timestamp"] for c in reactions] == [ts]


async def test_two_different_replies_both_count(desk: Harness) -> None:
    await _claimed(desk)
    await desk.thread_reply("First.")
    await desk.thread_reply("Second.")
    await desk.settle()
    assert [m["text"] for m in desk.chatbot.of_type("agent_message")] == ["First.", "Second."]


async def test_bot_echoes_and_edits_are_ignored(desk: Harness) -> None:
    parent = await _claimed(desk)
    before = await _snapshot(desk)
    echo_ts = desk.slack.post_as_user(CHANNEL, BOT_USER, "echo", thread_ts=parent)
    edited_ts = desk.slack.post_as_user(CHANNEL, AGENT[0], "typo", thread_ts=parent)

    ignored = [
        # deskhand's own thread posts come back as events carrying its bot_id.
        _event("echo", echo_ts, thread_ts=parent, bot_id="B0DESKHAND", user=BOT_USER),
        _event("echo", echo_ts, thread_ts=parent, bot_id="B0DESKHAND"),
        _event("echo", echo_ts, thread_ts=parent, subtype="bot_message", bot_id="B0DESKHAND"),
        # An edit: the (claimer's) changed message, not a new reply.
        _event(
            "fixed typo",
            "1700000999.000100",
            thread_ts=parent,
            subtype="message_changed",
            hidden=True,
            message={"type": "message", "user": AGENT[0], "text": "fixed typo", "ts": edited_ts},
        ),
        _event("", "1700000999.000200", thread_ts=parent, subtype="message_deleted"),
        _event("joined", "1700000999.000300", thread_ts=parent, subtype="channel_join"),
    ]
    for event in ignored:
        assert await desk.slack_event(event) == 200
    await desk.settle()

    assert await _snapshot(desk) == before
    assert desk.chatbot.of_type("agent_message") == []


async def test_messages_outside_handoff_threads_are_ignored(desk: Harness) -> None:
    await _claimed(desk)
    before = await _snapshot(desk)

    top_ts = desk.slack.post_as_user(CHANNEL, AGENT[0], "Anyone up for lunch?")
    other_ts = desk.slack.post_as_user(CHANNEL, AGENT[0], "Unrelated thread")
    reply_ts = desk.slack.post_as_user(CHANNEL, AGENT[0], "in a thread", thread_ts=other_ts)
    before = (*before[:4], len(desk.slack.calls))

    events = [
        _event("Anyone up for lunch?", top_ts),  # top level, not in a thread
        _event("Unrelated thread", other_ts, thread_ts=other_ts),  # a thread's own parent
        _event("in a thread", reply_ts, thread_ts=other_ts),  # a thread that is no handoff
        _event("elsewhere", reply_ts, thread_ts=other_ts, channel="C0OTHER"),
    ]
    for event in events:
        assert await desk.slack_event(event) == 200
    await desk.settle()

    assert await _snapshot(desk) == before
    assert desk.chatbot.of_type("agent_message") == []
    assert desk.slack.ephemerals(CHANNEL, AGENT[0]) == []


async def test_a_reply_in_another_channels_thread_with_the_same_ts_is_ignored(
    desk: Harness,
) -> None:
    parent = await _claimed(desk)
    before = await _snapshot(desk)
    event = _event("hello", "1700000999.000900", thread_ts=parent, channel="C0OTHER")
    assert await desk.slack_event(event) == 200
    await desk.settle()
    assert await _snapshot(desk) == before
