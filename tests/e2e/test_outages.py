"""Every outside system's outage ends with each effect delivered exactly once, in order.

For each system (Slack, the chatbot, the AI agent, Zendesk, Intercom, the custom ticketing
system, Stripe) a fault proxy sits between deskhand and that system's stand-in
(tests/support/fault_proxy.py) and plays each fault in turn: down (connections refused),
HTTP 500, 429 with Retry-After, answering after the client's timeout (the work done), and
the connection reset mid-response (the work done). In each, traffic that needs the system
arrives, the bot tries and retries on the test's clock, the proxy heals, the clock moves
past every retry wait, and then the stand-ins and the database must show each effect once,
in order per handoff or request, and nothing undelivered or dead
(tests/support/outage_checks.py).

One app per system and database plays the five faults in sequence (the suite's time
budget): each phase uses its own handoffs or requests, and every check names its fault.
"""

from __future__ import annotations

import pytest

from tests.support.outage_checks import check_approvals, check_handoffs
from tests.support.outage_traffic import FAULTS, approval_phase, handoff_phase
from tests.support.outage_world import APPROVALS, SYSTEMS, System, outage_world

SLACK_EXTRAS = frozenset({"transcript", "colleague_note"})


@pytest.mark.parametrize("system", SYSTEMS)
async def test_each_fault_heals_with_every_effect_once_and_in_order(
    database_url: str, system: System
) -> None:
    async with outage_world(system, database_url) as world:
        for number, fault in enumerate(FAULTS):
            if system in APPROVALS:
                await check_approvals(world, await approval_phase(world, fault, number))
                continue
            # Slack's phases also carry a transcript too long for the message (it must
            # precede what the customer writes meanwhile) and a colleague's note (its hint
            # is shown at most once, though an ephemeral cannot be looked up).
            extras = SLACK_EXTRAS if system == "slack" else frozenset()
            await check_handoffs(world, await handoff_phase(world, fault, number, extras=extras))
            if world.tickets is not None:  # no ticket filed twice, none for a stranger
                assert len(world.tickets.tickets()) == 2 * (number + 1), fault
        assert world.violations() == []
