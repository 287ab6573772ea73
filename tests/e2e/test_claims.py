"""Who may do what to a handoff: claim races, permission refusals, leads, double clicks."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from bot.handoffs.actions import HandoffAction
from tests.support.harness import AGENT, CHANNEL, LEAD, OTHER_AGENT, Harness

RACES = 5


def _buttons(message: dict[str, Any]) -> list[str]:
    return [
        element["action_id"]
        for block in message["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    ]


def _ephemeral_texts(desk: Harness, user: tuple[str, str]) -> list[str]:
    return [
        str(call.args.get("text", ""))
        for call in desk.slack.calls_to("chat.postEphemeral")
        if call.ok and call.args.get("user") == user[0]
    ]


async def _posted(desk: Harness, handoff_id: str) -> str:
    status, body = await desk.handoff(handoff_id=handoff_id, session_id=f"s-{handoff_id}")
    assert status == 202
    await desk.settle()
    assert desk.posted_message(handoff_id) is not None
    return str(body["reference"])


async def _claimed_by(desk: Harness, handoff_id: str, user: tuple[str, str]) -> str:
    reference = await _posted(desk, handoff_id)
    assert await desk.click(HandoffAction.CLAIM, handoff_id, user) == 200
    await desk.settle()
    return reference


async def test_simultaneous_claims_have_exactly_one_winner(desk: Harness) -> None:
    for race in range(RACES):
        handoff_id = f"race:{race}"
        reference = await _posted(desk, handoff_id)
        before = {user: len(_ephemeral_texts(desk, user)) for user in (AGENT, OTHER_AGENT)}

        statuses = await asyncio.gather(
            desk.click(HandoffAction.CLAIM, handoff_id, AGENT),
            desk.click(HandoffAction.CLAIM, handoff_id, OTHER_AGENT),
        )
        assert list(statuses) == [200, 200]
        await desk.settle()

        [claimed] = desk.chatbot.of_type("handoff_status", handoff_id=handoff_id, status="claimed")
        stored = await desk.stored_handoff(handoff_id)
        assert stored is not None and stored.status == "claimed"
        winner = AGENT if stored.claimed_by == AGENT[0] else OTHER_AGENT
        loser = OTHER_AGENT if winner is AGENT else AGENT
        assert stored.claimed_by == winner[0]
        assert claimed["agent"] == {"id": winner[0], "name": winner[1]}

        # The loser (only the loser) hears who won, privately.
        new_for_loser = _ephemeral_texts(desk, loser)[before[loser] :]
        assert new_for_loser == [f"{reference} is already claimed by <@{winner[0]}>."]
        assert _ephemeral_texts(desk, winner)[before[winner] :] == []

        post = desk.posted_message(handoff_id)
        assert post is not None and f"<@{winner[0]}>" in json.dumps(post["blocks"])
        assert _buttons(post) == [
            HandoffAction.RELEASE,
            HandoffAction.RESOLVE,
            HandoffAction.RETURN_TO_BOT,
        ]


async def test_another_agent_may_not_release_or_resolve(desk: Harness) -> None:
    handoff_id = "perm:1"
    reference = await _claimed_by(desk, handoff_id, AGENT)
    callbacks = len(desk.chatbot.callbacks)

    for action in (HandoffAction.RELEASE, HandoffAction.RESOLVE, HandoffAction.RETURN_TO_BOT):
        assert await desk.click(action, handoff_id, OTHER_AGENT) == 200
    await desk.settle()

    refusals = _ephemeral_texts(desk, OTHER_AGENT)
    assert refusals == [f"Only <@{AGENT[0]}> or a lead can do that on {reference}."] * 3
    assert len(desk.chatbot.callbacks) == callbacks
    stored = await desk.stored_handoff(handoff_id)
    assert stored is not None
    assert (stored.status, stored.claimed_by, stored.resolved_by) == ("claimed", AGENT[0], None)
    post = desk.posted_message(handoff_id)
    assert post is not None and HandoffAction.RELEASE in _buttons(post)


async def test_nobody_but_a_lead_may_resolve_an_unclaimed_handoff(desk: Harness) -> None:
    handoff_id = "perm:2"
    reference = await _posted(desk, handoff_id)
    assert await desk.click(HandoffAction.RESOLVE, handoff_id, AGENT) == 200
    await desk.settle()
    assert _ephemeral_texts(desk, AGENT) == [
        f"Only the agent who claims it or a lead can do that on {reference}."
    ]
    assert desk.chatbot.of_type("handoff_status", status="resolved") == []
    stored = await desk.stored_handoff(handoff_id)
    assert stored is not None and stored.status == "queued"


async def test_a_lead_may_release_and_resolve_anyones_handoff(desk: Harness) -> None:
    handoff_id = "lead:1"
    await _claimed_by(desk, handoff_id, AGENT)

    assert await desk.click(HandoffAction.RELEASE, handoff_id, LEAD) == 200
    await desk.settle()
    [released] = desk.chatbot.of_type("handoff_status", handoff_id=handoff_id, status="released")
    assert "back in the queue" in released["message"]
    stored = await desk.stored_handoff(handoff_id)
    assert stored is not None and (stored.status, stored.claimed_by) == ("queued", None)

    assert await desk.click(HandoffAction.CLAIM, handoff_id, OTHER_AGENT) == 200
    assert await desk.click(HandoffAction.RESOLVE, handoff_id, LEAD) == 200
    await desk.settle()
    [resolved] = desk.chatbot.of_type("handoff_status", handoff_id=handoff_id, status="resolved")
    assert resolved["handoff_id"] == handoff_id
    stored = await desk.stored_handoff(handoff_id)
    assert stored is not None and (stored.status, stored.resolved_by) == ("resolved", LEAD[0])
    assert _ephemeral_texts(desk, LEAD) == []
    post = desk.posted_message(handoff_id)
    assert post is not None and _buttons(post) == []


async def test_the_claimer_releases_back_to_the_queue(desk: Harness) -> None:
    handoff_id = "rel:1"
    await _claimed_by(desk, handoff_id, AGENT)

    assert await desk.click(HandoffAction.RELEASE, handoff_id, AGENT) == 200
    await desk.settle()

    assert (
        len(desk.chatbot.of_type("handoff_status", handoff_id=handoff_id, status="released")) == 1
    )
    stored = await desk.stored_handoff(handoff_id)
    assert stored is not None
    assert (stored.status, stored.claimed_by, stored.claimed_at) == ("queued", None, None)
    post = desk.posted_message(handoff_id)
    assert post is not None and _buttons(post) == [HandoffAction.CLAIM]
    assert f"Released by <@{AGENT[0]}>" in json.dumps(post["blocks"])
    # The same message was updated in place, not posted again.
    assert [m["ts"] for m in desk.slack.messages(CHANNEL)] == [post["ts"]]

    # Back in the queue, anyone may claim it again.
    assert await desk.click(HandoffAction.CLAIM, handoff_id, OTHER_AGENT) == 200
    await desk.settle()
    claims = desk.chatbot.of_type("handoff_status", handoff_id=handoff_id, status="claimed")
    assert [c["agent"]["id"] for c in claims] == [AGENT[0], OTHER_AGENT[0]]


async def test_resolving_twice_tells_the_customer_once(desk: Harness) -> None:
    handoff_id = "twice:1"
    reference = await _claimed_by(desk, handoff_id, AGENT)

    assert await desk.click(HandoffAction.RESOLVE, handoff_id, AGENT) == 200
    assert await desk.click(HandoffAction.RESOLVE, handoff_id, AGENT) == 200
    await desk.settle()

    assert (
        len(desk.chatbot.of_type("handoff_status", handoff_id=handoff_id, status="resolved")) == 1
    )
    assert _ephemeral_texts(desk, AGENT) == [f"{reference} is already resolved."]
    stored = await desk.stored_handoff(handoff_id)
    assert stored is not None and stored.status == "resolved"


async def test_resolve_clicked_twice_at_once_resolves_once(desk: Harness) -> None:
    handoff_id = "twice:2"
    await _claimed_by(desk, handoff_id, AGENT)

    await asyncio.gather(
        desk.click(HandoffAction.RESOLVE, handoff_id, AGENT),
        desk.click(HandoffAction.RESOLVE, handoff_id, LEAD),
    )
    await desk.settle()

    assert (
        len(desk.chatbot.of_type("handoff_status", handoff_id=handoff_id, status="resolved")) == 1
    )
    refusals = _ephemeral_texts(desk, AGENT) + _ephemeral_texts(desk, LEAD)
    assert len(refusals) == 1 and refusals[0].endswith("is already resolved.")
