"""The fallback tree of seed 000, end to end through Slack and the chatbot callback, on
each ticketing system: no agent free, an agent free, assignment refused, system down."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from storage.models import TicketFallback
from tests.support.harness_data import AGENT, CHANNEL, HANDOFF
from tests.support.ticketing_e2e import ALL, EMAILS, REMOTE, TicketingDesk, ticketing_desk

HID = HANDOFF["handoff_id"]


@pytest.fixture(params=ALL)
async def tdesk(request: pytest.FixtureRequest, database_url: str) -> AsyncIterator[TicketingDesk]:
    async with ticketing_desk(request.param, database_url) as desk:
        yield desk


@pytest.fixture(params=REMOTE)
async def remote(request: pytest.FixtureRequest, database_url: str) -> AsyncIterator[TicketingDesk]:
    async with ticketing_desk(request.param, database_url) as desk:
        yield desk


def _ticket_view(t: TicketingDesk, ticket_id: str) -> tuple[str | None, dict[str, str]]:
    """(assignee e-mail, metadata) of the ticket in the ticketing system."""
    if t.standin is None:
        return None, {}
    ticket = t.remote.ticket(ticket_id)
    return ticket.assignee_email, dict(ticket.metadata)


async def test_no_agent_free_files_an_unassigned_ticket_and_tells_the_queue_position(
    tdesk: TicketingDesk,
) -> None:
    desk = tdesk.desk
    for n in (1, 2):
        status, _ = await desk.handoff(handoff_id=f"h{n}", session_id=f"s{n}")
        assert status == 202
    await desk.settle()

    for n in (1, 2):
        handoff = await desk.stored_handoff(f"h{n}")
        assert handoff is not None and handoff.ticket_id and handoff.ticket_assignee is None
        with_ticket = [c for c in tdesk.statuses(f"h{n}") if (c.get("ticket") or {}).get("id")]
        assert len(with_ticket) == 1, tdesk.statuses(f"h{n}")
        told = with_ticket[0]
        assert told["queue_position"] == n
        # No claim history yet: the configured default per place in the queue.
        assert told["estimated_wait_seconds"] == n * 600
        assert handoff.ticket_id in told["message"]
        if tdesk.standin is not None:
            assignee, metadata = _ticket_view(tdesk, handoff.ticket_id)
            assert assignee is None
            assert metadata.get("fallback_reason") == "no_agent_available"
    fallbacks = await desk.desk_command("fallbacks")
    assert "no agent was available" in fallbacks


async def test_an_available_agent_gets_the_ticket(tdesk: TicketingDesk) -> None:
    desk = tdesk.desk
    await tdesk.available(AGENT)
    await desk.handoff()
    await desk.settle()

    handoff = await desk.stored_handoff()
    assert handoff is not None and handoff.ticket_id
    assert handoff.ticket_assignee == AGENT[0]
    told = [c for c in tdesk.statuses(HID) if (c.get("ticket") or {}).get("id")]
    assert len(told) == 1 and "queue_position" not in told[0]
    if tdesk.standin is not None:
        assignee, metadata = _ticket_view(tdesk, handoff.ticket_id)
        assert assignee == EMAILS[AGENT[0]]
        assert "fallback_reason" not in metadata


async def test_a_refused_assignment_files_it_unassigned_and_retries(remote: TicketingDesk) -> None:
    desk = remote.desk
    await remote.available(AGENT)
    remote.remote.reject_assignment(True)
    await desk.handoff()
    await desk.settle()

    handoff = await desk.stored_handoff()
    assert handoff is not None and handoff.ticket_id and handoff.ticket_assignee is None
    assignee, metadata = _ticket_view(remote, handoff.ticket_id)
    assert assignee is None and metadata.get("fallback_reason") == "assignment_failed"
    assert len(remote.remote.tickets()) == 1  # filed once, unassigned
    assert "assignment refused" in await desk.desk_command("fallbacks")
    assert "assignment" in str(desk.posted_message()).lower()  # the message shows it

    await desk.advance(31)  # the first retry, still refused: backoff doubles
    await remote.sweep()
    assert (await desk.stored_handoff()).ticket_assignee is None  # type: ignore[union-attr]

    remote.remote.reject_assignment(False)
    await desk.advance(61)
    await remote.sweep()
    handoff = await desk.stored_handoff()
    assert handoff is not None and handoff.ticket_assignee == AGENT[0]
    assert _ticket_view(remote, handoff.ticket_id or "")[0] == EMAILS[AGENT[0]]
    assert "No ticket is on a fallback" in await desk.desk_command("fallbacks")


async def test_unreachable_system_gives_an_offline_reference_then_files_it_once(
    remote: TicketingDesk,
) -> None:
    desk = remote.desk
    remote.remote.go_down()
    await desk.handoff()
    await desk.settle_ready()

    handoff = await desk.stored_handoff()
    assert handoff is not None and handoff.ticket_id is None
    offline = handoff.offline_reference
    assert offline is not None and offline.startswith("OFF-")
    told = [c for c in remote.statuses(HID) if (c.get("ticket") or {}).get("offline_reference")]
    assert told and "id" not in told[-1]["ticket"] and offline in told[-1]["message"]
    assert offline in str(desk.posted_message())

    await desk.advance(300)
    await remote.sweep()  # still down: another attempt, recorded
    assert (await desk.stored_handoff()).ticket_id is None  # type: ignore[union-attr]

    await remote.remote.come_back()
    await desk.advance(300)
    await remote.sweep()
    handoff = await desk.stored_handoff()
    assert handoff is not None and handoff.ticket_id
    assert len(remote.remote.tickets()) == 1
    filed = [c for c in remote.statuses(HID) if (c.get("ticket") or {}).get("id")]
    assert len(filed) == 1
    assert filed[0]["ticket"]["id"] == handoff.ticket_id and offline in filed[0]["message"]
    async with desk.app.db.uow() as uow:
        rows = await uow.fallbacks.of_handoff(handoff.id)
    assert [(f.kind, f.status) for f in rows if f.kind == "offline"] == [("offline", "resolved")]


async def test_after_the_window_it_is_dead_lettered_alerted_and_retried_by_hand(
    remote: TicketingDesk,
) -> None:
    desk = remote.desk
    remote.remote.go_down()
    await desk.handoff()
    await desk.settle_ready()
    for _ in range(12):  # every 5 minutes for an hour
        await desk.advance_ready(300)
        await remote.sweep()

    assert await desk.count(TicketFallback) == 1
    async with desk.app.db.uow() as uow:
        handoff = await uow.handoffs.get(HID)
        assert handoff is not None
        fallback = await uow.fallbacks.get(handoff.id, "offline")
    assert fallback is not None and fallback.status == "dead" and fallback.alert_ts
    assert fallback.attempts >= 11  # tried every 5 minutes for the hour
    alert = desk.slack.state.find(CHANNEL, fallback.alert_ts)
    assert "ticket_retry" in str(alert["blocks"])
    assert alert.get("thread_ts") is None  # in the channel, not buried in a thread
    assert handoff.reference in await desk.desk_command("deadletters")

    await remote.remote.come_back()
    await desk.advance(60)  # a minute later: the circuit lets a trial call through again
    assert await desk.click("ticket_retry", HID, user=AGENT) == 200
    await desk.settle()
    await remote.sweep()
    handoff = await desk.stored_handoff()
    assert handoff is not None and handoff.ticket_id
    assert len(remote.remote.tickets()) == 1
    alert = desk.slack.state.find(CHANNEL, fallback.alert_ts)
    assert "went through" in str(alert["blocks"]) and "ticket_retry" not in str(alert["blocks"])


async def test_after_an_outage_the_backlog_drains_oldest_first_without_duplicates(
    remote: TicketingDesk,
) -> None:
    desk = remote.desk
    remote.remote.go_down()
    for n in range(3):
        await desk.handoff(handoff_id=f"h{n}", session_id=f"s{n}")
        await desk.settle_ready()
        await desk.advance_ready(10)
    await remote.remote.come_back()
    await desk.advance_ready(300)  # the oldest falls due first
    await remote.sweep()
    await remote.sweep()  # it got through, so the rest were made due at once
    filed = [(await desk.stored_handoff(f"h{n}")) for n in range(3)]
    assert all(h is not None and h.ticket_id for h in filed)
    tickets = remote.remote.tickets()
    assert len(tickets) == 3  # one each, none twice
    # Filed in the order the customers arrived.
    order = [t.id for t in tickets]
    assert order == [h.ticket_id for h in filed if h is not None]
    for n in range(3):
        with_id = [c for c in remote.statuses(f"h{n}") if (c.get("ticket") or {}).get("id")]
        assert len(with_id) == 1


async def test_a_rate_limited_create_waits_as_asked_and_is_not_offline(
    remote: TicketingDesk,
) -> None:
    desk = remote.desk
    remote.remote.fail_next(1, 429, retry_after=31)  # longer than the client waits itself
    await desk.handoff()
    await desk.settle_ready()
    handoff = await desk.stored_handoff()
    assert handoff is not None and handoff.ticket_id is None and handoff.offline_reference is None
    await desk.advance(32)
    handoff = await desk.stored_handoff()
    assert handoff is not None and handoff.ticket_id
    assert len(remote.remote.tickets()) == 1
