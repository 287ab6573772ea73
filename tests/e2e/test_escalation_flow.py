"""The whole escalation, end to end: handoff, post, claim, conversation, resolve."""

from __future__ import annotations

import json

from sqlalchemy import select

from bot.handoffs.actions import HandoffAction
from storage.models import Handoff, HandoffMessage, Ticket, TicketComment
from tests.support.harness import AGENT, CHANNEL, HANDOFF, Harness

HID = HANDOFF["handoff_id"]


def _buttons(message: dict) -> list[str]:
    return [
        element["action_id"]
        for block in message["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    ]


async def test_handoff_is_posted_claimed_answered_and_resolved(desk: Harness) -> None:
    status, body = await desk.handoff()
    assert status == 202
    assert body["handoff_id"] == HID and body["status"] == "queued"
    assert body["reference"].startswith("DH-")
    await desk.settle()

    post = desk.posted_message()
    assert post is not None
    assert _buttons(post) == [HandoffAction.CLAIM]
    text = json.dumps(post["blocks"])
    for expected in ("Ada", "Invoices FAQ", "0.41", "Which email address", "March invoice"):
        assert expected in text

    queued = desk.chatbot.of_type("handoff_status", status="queued")
    assert queued[0]["session_id"] == "sess-42"
    assert body["reference"] in queued[0]["message"]
    # Once the local ticket exists, the customer hears its id.
    assert queued[-1]["ticket"]["system"] == "local"
    assert queued[-1]["ticket"]["id"].startswith("LOC-")

    assert await desk.click(HandoffAction.CLAIM) == 200
    await desk.settle()
    claimed = desk.chatbot.of_type("handoff_status", status="claimed")
    assert claimed == [claimed[0]] and claimed[0]["agent"] == {"id": AGENT[0], "name": AGENT[1]}
    post = desk.posted_message()
    assert _buttons(post) == [
        HandoffAction.RELEASE,
        HandoffAction.RESOLVE,
        HandoffAction.RETURN_TO_BOT,
    ]
    assert f"<@{AGENT[0]}>" in json.dumps(post["blocks"])

    reply_ts = await desk.thread_reply("Hi Ada, it is in <https://example.com/inv|your account>.")
    await desk.settle()
    [reply] = desk.chatbot.of_type("agent_message")
    assert reply["text"] == "Hi Ada, it is in your account (https://example.com/inv)."
    assert reply["agent"]["id"] == AGENT[0] and reply["session_id"] == "sess-42"
    reactions = desk.slack.calls_to("reactions.add")
    assert [c.args["timestamp"] for c in reactions] == [reply_ts]

    status, _ = await desk.customer_message(HID, "m-7", "Found it, thanks!")
    assert status == 202
    await desk.settle()
    assert any("Found it, thanks!" in json.dumps(m) for m in desk.thread())

    assert await desk.click(HandoffAction.RESOLVE) == 200
    await desk.settle()
    assert desk.chatbot.of_type("handoff_status", status="resolved")
    assert _buttons(desk.posted_message()) == []

    async with desk.app.db.uow() as uow:
        handoff = await uow.session.scalar(select(Handoff).where(Handoff.handoff_id == HID))
        assert handoff is not None
        assert handoff.status == "resolved" and handoff.resolved_by == AGENT[0]
        ticket = await uow.session.scalar(select(Ticket).where(Ticket.key == handoff.ticket_id))
        assert ticket is not None and ticket.status == "solved" and ticket.assignee == AGENT[0]
        comments = list(await uow.session.scalars(select(TicketComment.body)))
        assert "Found it, thanks!" in comments
        directions = list(await uow.session.scalars(select(HandoffMessage.direction)))
        assert sorted(directions) == ["agent", "customer"]
    assert desk.slack.messages(CHANNEL) == [desk.posted_message()]


async def test_internal_notes_never_reach_the_customer(desk: Harness) -> None:
    await desk.handoff()
    await desk.settle()
    await desk.click(HandoffAction.CLAIM)
    await desk.thread_reply("// customer is on the legacy plan")
    await desk.thread_reply("note: double-check the refund")
    await desk.settle()
    assert desk.chatbot.of_type("agent_message") == []
    async with desk.app.db.uow() as uow:
        rows = list(await uow.session.scalars(select(TicketComment)))
    assert [c.public for c in rows] == [False, False]


async def test_a_reply_from_someone_who_has_not_claimed_stays_internal(desk: Harness) -> None:
    await desk.handoff()
    await desk.settle()
    await desk.thread_reply("I can take this one")
    await desk.settle()
    assert desk.chatbot.of_type("agent_message") == []
    hints = desk.slack.ephemerals(CHANNEL, AGENT[0])
    assert hints and "Claim it to reply" in hints[0]["text"]


async def test_return_to_bot_tells_the_chatbot_to_resume(desk: Harness) -> None:
    await desk.handoff()
    await desk.settle()
    await desk.click(HandoffAction.CLAIM)
    await desk.click(HandoffAction.RETURN_TO_BOT)
    await desk.settle()
    [returned] = desk.chatbot.of_type("handoff_status", status="returned_to_bot")
    assert returned["handoff_id"] == HID and returned["message"]
    status, body = await desk.customer_message(HID, "m-9", "hello?")
    assert status == 409 and body["error"]["code"] == "conflict"
