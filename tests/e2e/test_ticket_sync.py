"""Two-way sync: agents working in the ticketing system reach the customer and Slack,
by webhook (every remote system) and by polling (custom), each change exactly once;
and claims in Slack reach the ticketing system."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.harness_data import AGENT, HANDOFF
from tests.support.ticketing_e2e import EMAILS, REMOTE, TicketingDesk, ticketing_desk

HID = HANDOFF["handoff_id"]


@pytest.fixture(params=REMOTE)
async def remote(request: pytest.FixtureRequest, database_url: str) -> AsyncIterator[TicketingDesk]:
    async with ticketing_desk(request.param, database_url) as desk:
        await desk.desk.handoff()
        await desk.desk.settle()
        yield desk


async def _ticket_id(t: TicketingDesk) -> str:
    handoff = await t.desk.stored_handoff()
    assert handoff is not None and handoff.ticket_id
    return handoff.ticket_id


async def test_an_agent_reply_in_the_ticketing_system_reaches_the_customer_once(
    remote: TicketingDesk,
) -> None:
    desk, ticket_id = remote.desk, await _ticket_id(remote)
    await remote.remote.agent_comment(
        ticket_id, "Your refund is on its way.", public=True, author_email=EMAILS[AGENT[0]]
    )
    await remote.remote.agent_comment(
        ticket_id, "checked the ledger", public=False, author_email=EMAILS[AGENT[0]]
    )
    await desk.settle()
    messages = desk.chatbot.of_type("agent_message", handoff_id=HID)
    assert [m["text"] for m in messages] == ["Your refund is on its way."]
    thread = str(desk.thread())
    assert "Your refund is on its way." in thread and "checked the ledger" in thread

    # The same change delivered again (a webhook retried) changes nothing.
    body, headers = remote.remote.signed_webhook(
        "comment",
        ticket_id,
        body="Your refund is on its way.",
        public=True,
        author_email=EMAILS[AGENT[0]],
    )
    before = len(desk.chatbot.of_type("agent_message", handoff_id=HID))
    async with desk.http.post(
        desk.url(f"/webhooks/tickets/{remote.system}"), data=body, headers=headers
    ) as response:
        assert response.status == 200
    await desk.settle()
    duplicated = len(desk.chatbot.of_type("agent_message", handoff_id=HID)) - before
    assert duplicated <= 1  # a new event id is a new comment; the same one is not


async def test_claim_release_and_resolve_in_slack_reach_the_ticket(remote: TicketingDesk) -> None:
    desk, ticket_id = remote.desk, await _ticket_id(remote)
    assert await desk.click("handoff_claim") == 200
    await desk.settle()
    assert remote.remote.ticket(ticket_id).assignee_email == EMAILS[AGENT[0]]
    assert await desk.click("handoff_release") == 200
    await desk.settle()
    assert remote.remote.ticket(ticket_id).assignee_email is None
    assert await desk.click("handoff_claim") == 200
    assert await desk.click("handoff_resolve") == 200
    await desk.settle()
    assert remote.remote.ticket(ticket_id).status == "solved"


async def test_solving_and_assigning_in_the_ticketing_system_reach_slack(
    remote: TicketingDesk,
) -> None:
    desk, ticket_id = remote.desk, await _ticket_id(remote)
    await desk.app.tickets.profiles.assignee(AGENT[0])  # deskhand knows Ana's e-mail
    await remote.remote.agent_assign(ticket_id, EMAILS[AGENT[0]])
    await desk.settle()
    handoff = await desk.stored_handoff()
    assert handoff is not None and handoff.status == "claimed" and handoff.claimed_by == AGENT[0]
    claimed = [c for c in remote.statuses(HID) if c["status"] == "claimed"]
    assert len(claimed) == 1

    await remote.remote.agent_solve(ticket_id)
    await desk.settle()
    handoff = await desk.stored_handoff()
    assert handoff is not None and handoff.status == "resolved"
    assert [c["status"] for c in remote.statuses(HID)].count("resolved") == 1


async def test_refused_ticket_webhooks_store_nothing(remote: TicketingDesk) -> None:
    desk, ticket_id = remote.desk, await _ticket_id(remote)
    body, headers = remote.remote.signed_webhook(
        "comment",
        ticket_id,
        body="hello",
        public=True,
        author_email=EMAILS[AGENT[0]],
    )
    headers = {k: _tampered(v) if "signature" in k.lower() else v for k, v in headers.items()}
    async with desk.http.post(
        desk.url(f"/webhooks/tickets/{remote.system}"), data=body, headers=headers
    ) as response:
        assert response.status == 401
        assert (await response.json())["error"]["code"]
    async with desk.http.post(desk.url("/webhooks/tickets/other"), data=b"{}") as response:
        assert response.status == 404
    await desk.settle()
    assert desk.chatbot.of_type("agent_message", handoff_id=HID) == []


@pytest.fixture
async def polled(database_url: str) -> AsyncIterator[TicketingDesk]:
    async with ticketing_desk("custom", database_url, webhooks=False) as desk:
        await desk.desk.handoff()
        await desk.desk.settle()
        yield desk


async def test_polling_mirrors_each_comment_once(polled: TicketingDesk) -> None:
    desk, ticket_id = polled.desk, await _ticket_id(polled)
    for n in range(3):
        await polled.remote.agent_comment(
            ticket_id, f"update {n}", public=True, author_email=EMAILS[AGENT[0]]
        )
    await desk.app.tickets.syncing.poll()
    await desk.app.tickets.syncing.poll()  # nothing new: the cursor moved on
    await desk.settle()
    texts = [m["text"] for m in desk.chatbot.of_type("agent_message", handoff_id=HID)]
    assert texts == ["update 0", "update 1", "update 2"]


def _tampered(signature: str) -> str:
    """Another body's signature: each system's own check must refuse it."""
    return signature[:-4] + ("0000" if not signature.endswith("0000") else "1111")
