"""Queue positions for several waiting customers, moving as agents claim."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.harness_data import AGENT, OTHER_AGENT
from tests.support.ticketing_e2e import TicketingDesk, ticketing_desk


@pytest.fixture
async def queue(database_url: str) -> AsyncIterator[TicketingDesk]:
    async with ticketing_desk("local", database_url, DESKHAND_QUEUE_NOTIFY_EVERY=120) as desk:
        yield desk


def _positions(t: TicketingDesk, handoff_id: str) -> list[int]:
    return [c["queue_position"] for c in t.statuses(handoff_id) if "queue_position" in c]


async def test_positions_follow_priority_then_age(queue: TicketingDesk) -> None:
    desk = queue.desk
    for handoff_id, priority in (("a", "normal"), ("b", "normal"), ("c", "urgent")):
        await desk.handoff(handoff_id=handoff_id, session_id=f"s{handoff_id}", priority=priority)
        await desk.settle()
        await desk.advance(5)
    # c is urgent: first in line though it came last; a and b were told 1 and 2.
    assert [_positions(queue, h) for h in "abc"] == [[1], [2], [1]]
    await desk.click("handoff_claim", "c", user=AGENT)
    # Nobody stands better than they were told (a: 1, b: 2): no notice.
    await desk.advance(200)
    assert await desk.app.tickets.queue.notify_improved() == 0


async def test_customers_hear_improvements_at_most_every_so_often(queue: TicketingDesk) -> None:
    desk = queue.desk
    for handoff_id in "xyz":
        await desk.handoff(handoff_id=handoff_id, session_id=f"s{handoff_id}")
        await desk.settle()
    assert [_positions(queue, h) for h in "xyz"] == [[1], [2], [3]]

    await desk.click("handoff_claim", "x", user=AGENT)
    await desk.advance(10)
    assert await desk.app.tickets.queue.notify_improved() == 0  # told 10 s ago: not yet
    await desk.advance(120)
    assert await desk.app.tickets.queue.notify_improved() == 2
    await desk.settle()
    assert [_positions(queue, h) for h in "yz"] == [[2, 1], [3, 2]]

    await desk.click("handoff_claim", "y", user=OTHER_AGENT)
    await desk.advance(10)
    assert await desk.app.tickets.queue.notify_improved() == 0
    await desk.advance(111)
    assert await desk.app.tickets.queue.notify_improved() == 1
    await desk.settle()
    assert _positions(queue, "z") == [3, 2, 1]
    last = [c for c in queue.statuses("z") if "queue_position" in c][-1]
    # The estimate now comes from the measured times to claim, not the 600 s default.
    assert 0 < last["estimated_wait_seconds"] < 600
    assert "1" in last["message"]
