"""The whole app in Socket Mode: /readyz follows the socket's liveness, a silent socket is
replaced, and what Slack re-sends after a reconnect is applied once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from bot.demo import slack_requests
from bot.handoffs.actions import HandoffAction
from storage.models import HandoffMessage
from tests.support.harness import AGENT, CHANNEL, HANDOFF, Harness, running
from tests.support.slack_delivery import FORM, envelope_of

HID = HANDOFF["handoff_id"]
STALE_AFTER = 0.6


@pytest.fixture
async def socket_desk(database_url: str) -> AsyncIterator[Harness]:
    async with running(
        database_url, slack_mode="socket", DESKHAND_SOCKET_STALE_AFTER=STALE_AFTER
    ) as harness:
        yield harness
        assert harness.slack.violations == [], harness.slack.violations


async def _readyz(desk: Harness) -> tuple[int, dict[str, object]]:
    status, text, content_type = await desk.get("/readyz")
    assert content_type.startswith("application/json")
    return status, json.loads(text)


async def _until_ready(desk: Harness, *, ready: bool) -> dict[str, object]:
    """Poll /readyz until it says ``ready`` (or not); its last body."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10.0
    while True:
        status, body = await _readyz(desk)
        if (status == 200) is ready:
            return body
        assert loop.time() < deadline, f"/readyz stayed {status}: {body}"
        await asyncio.sleep(0.02)


async def _claimed(desk: Harness) -> None:
    await desk.handoff()
    await desk.settle()
    assert await desk.click(HandoffAction.CLAIM) == 200
    await desk.settle()


async def test_a_deaf_socket_fails_readyz_and_is_replaced(socket_desk: Harness) -> None:
    desk, socket = socket_desk, socket_desk.socket
    assert socket is not None
    status, body = await _readyz(desk)
    assert status == 200 and body["checks"] == {"database": True, "slack_socket": True}

    socket.go_deaf()
    body = await _until_ready(desk, ready=False)
    assert body == {"status": "not_ready", "checks": {"database": True, "slack_socket": False}}
    # A fresh connection was asked for (and is as deaf as the stand-in, for now).
    await desk.slack.wait_for(lambda: socket.urls_issued >= 2, description="a new socket URL")
    # Every open was answered with a URL, or refused for Slack's limit (Tier 1) on opens.
    assert desk.slack.limits is not None
    refused = desk.slack.limits.count("apps.connections.open")
    assert len(desk.slack.calls_to("apps.connections.open")) == socket.urls_issued + refused

    await socket.hear()
    await _until_ready(desk, ready=True)
    # And the new socket carries Slack's requests again.
    assert "/desk" in await desk.desk_command("help")


async def test_a_reply_is_stored_before_its_ack(socket_desk: Harness) -> None:
    await _claimed(socket_desk)
    await socket_desk.thread_reply("Your refund is on its way.")
    # thread_reply returned on the ack: the reply must be in the database already.
    assert await socket_desk.count(HandoffMessage) == 1


async def test_a_reply_whose_ack_was_lost_reaches_the_customer_once(socket_desk: Harness) -> None:
    desk, socket = socket_desk, socket_desk.socket
    assert socket is not None
    await _claimed(desk)
    parent = desk.posted_message()
    assert parent is not None
    ts = desk.slack.post_as_user(CHANNEL, AGENT[0], "Sorted.", thread_ts=parent["ts"])

    socket.drop_acks(1)
    envelope = await socket.send(
        "events_api", envelope_of(_reply_body(ts, parent["ts"]), "application/json")[1]
    )
    await desk.slack.wait_for(lambda: socket.drop_acks_left == 0, description="the lost ack")
    assert envelope in socket.unacked
    await socket.disconnect("refresh_requested")
    assert await socket.ack_of(envelope) is not None
    await desk.settle()

    assert [m["text"] for m in desk.chatbot.of_type("agent_message")] == ["Sorted."]
    assert await desk.count(HandoffMessage) == 1


async def test_a_click_whose_ack_was_lost_claims_once(socket_desk: Harness) -> None:
    desk, socket = socket_desk, socket_desk.socket
    assert socket is not None
    await desk.handoff()
    await desk.settle()
    post = desk.posted_message()
    assert post is not None

    socket.drop_acks(1)
    body = _click_body(post["ts"])
    envelope = await socket.send("interactive", envelope_of(body, FORM)[1])
    await desk.slack.wait_for(lambda: socket.drop_acks_left == 0, description="the lost ack")
    await socket.disconnect("warning")
    assert await socket.ack_of(envelope) is not None
    await desk.app.after_ack.join()
    await desk.settle()

    assert len(desk.chatbot.of_type("handoff_status", status="claimed")) == 1
    stored = await desk.stored_handoff()
    assert stored is not None and stored.claimed_by == AGENT[0]
    # Applied once: no "already claimed" notice for the re-sent click.
    assert desk.slack.ephemerals(CHANNEL, AGENT[0]) == []


async def test_a_click_is_acked_before_its_work_runs(
    socket_desk: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk, socket = socket_desk, socket_desk.socket
    assert socket is not None
    await desk.handoff()
    await desk.settle()
    post = desk.posted_message()
    assert post is not None

    # The claim's work is held back until the ack has been seen at the socket.
    released = asyncio.Event()
    submit = desk.app.after_ack.submit

    def held_submit(work: Callable[[], Awaitable[None]], **kwargs: Any) -> None:
        async def held() -> None:
            await released.wait()
            await work()

        submit(held, **kwargs)

    monkeypatch.setattr(desk.app.after_ack, "submit", held_submit)
    envelope = await socket.send("interactive", envelope_of(_click_body(post["ts"]), FORM)[1])
    assert await socket.ack_of(envelope) is not None
    stored = await desk.stored_handoff()
    assert stored is not None and stored.claimed_by is None  # acked, not yet applied

    released.set()
    await desk.app.after_ack.join()
    stored = await desk.stored_handoff()
    assert stored is not None and stored.claimed_by == AGENT[0]


def _reply_body(ts: str, thread_ts: str) -> str:
    return slack_requests.message_event(
        channel=CHANNEL, user=AGENT[0], text="Sorted.", ts=ts, thread_ts=thread_ts
    )


def _click_body(message_ts: str) -> str:
    return slack_requests.block_action(
        action_id=HandoffAction.CLAIM,
        value=HID,
        user_id=AGENT[0],
        user_name=AGENT[1],
        channel=CHANNEL,
        message_ts=message_ts,
    )
