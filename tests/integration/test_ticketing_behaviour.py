"""The behaviours every ticketing system (local, zendesk, intercom, custom) must share,
run against each through tests/support/ticketing_systems.py: the same test, four systems."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from integrations.errors import AssignmentRejected, RateLimited, Unavailable
from integrations.ticketing.protocol import (
    Assignee,
    NewTicket,
    Requester,
    TicketEventKind,
    TicketPriority,
    TicketStatus,
    Turn,
)
from tests.support.ticketing_systems import (
    STRANGER,
    SYSTEMS,
    SystemUnderTest,
    system_under_test,
)

KEY = "deskhand-handoff-h-77"
BO = "bo@support.example"
# No retries inside a call (the outbox retries later), and a timeout short enough to lose
# a slow answer in (custom's stand-in answers 1 s late when told to lose one).
ONCE = {"max_attempts": 1, "timeout": 0.5}

TICKET = NewTicket(
    handoff_id="h-77",
    reference="H-1077",
    external_conversation_id="session-77",
    subject="[H-1077] Ann: charged twice",
    summary="Ann was charged twice for order 1234.",
    reason="asked for a human",
    priority=TicketPriority.HIGH,
    requester=Requester(external_id="cust-7", name="Ann", email="ann@example.com"),
    transcript=(Turn("customer", "I paid twice"), Turn("bot", "Let me get someone")),
    metadata={"fallback_reason": "low_confidence"},
)


def ticket(assignee: Assignee | None = None) -> NewTicket:
    return replace(TICKET, assignee=assignee)


# The built-in system has no network to lose, no agent directory and nothing to sync:
# these run on the three remote systems only.
REMOTE_ONLY = pytest.mark.parametrize("system", [s for s in SYSTEMS if s != "local"])


@pytest.fixture(params=SYSTEMS)
def system(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
async def sut(system: str, tmp_path: Path) -> AsyncIterator[SystemUnderTest]:
    async with system_under_test(system, tmp_path) as under_test:
        yield under_test
        assert under_test.violations() == []


@pytest.fixture
async def sut_once(system: str, tmp_path: Path) -> AsyncIterator[SystemUnderTest]:
    async with system_under_test(system, tmp_path, http=ONCE) as under_test:
        yield under_test
        assert under_test.violations() == []


# -- creating -------------------------------------------------------------------------------


async def test_create_unassigned_keeps_priority_and_metadata(sut: SystemUnderTest) -> None:
    ref = await sut.ticketing.create_ticket(ticket(), idempotency_key=KEY)

    assert ref.system == sut.name
    view = await sut.view(ref.id)
    assert (view.subject, view.status, view.priority) == (TICKET.subject, "open", "high")
    assert (view.assignee_email, view.comments) == (None, ())
    assert view.metadata.get("fallback_reason") == "low_confidence"
    assert await sut.ticket_ids() == [ref.id]


async def test_create_assigned_to_a_known_agent(sut: SystemUnderTest) -> None:
    bo = await sut.agent(BO, "Bo Agent")
    ref = await sut.ticketing.create_ticket(ticket(bo), idempotency_key=KEY)

    view = await sut.view(ref.id)
    assert (view.assignee_email, view.status) == (BO, "open")


async def test_the_same_key_twice_gives_one_ticket(sut: SystemUnderTest) -> None:
    first = await sut.ticketing.create_ticket(ticket(), idempotency_key=KEY)
    again = await sut.ticketing.create_ticket(ticket(), idempotency_key=KEY)
    other = await sut.ticketing.create_ticket(ticket(), idempotency_key=KEY + "-other")

    assert again.id == first.id != other.id
    assert await sut.ticket_ids() == [first.id, other.id]


@REMOTE_ONLY
async def test_a_lost_answer_then_a_retry_gives_one_ticket(sut_once: SystemUnderTest) -> None:
    remote = sut_once.remote("network")
    remote.lose_create_answer()
    with pytest.raises(Unavailable):
        await remote.ticketing.create_ticket(ticket(), idempotency_key=KEY)
    assert len(await remote.ticket_ids()) == 1  # made, though the answer never came
    await remote.back()

    ref = await remote.ticketing.create_ticket(ticket(), idempotency_key=KEY)

    assert await remote.ticket_ids() == [ref.id]


# -- changing -------------------------------------------------------------------------------


async def test_assign_and_unassign(sut: SystemUnderTest) -> None:
    bo = await sut.agent(BO, "Bo Agent")
    ref = await sut.ticketing.create_ticket(ticket(), idempotency_key=KEY)

    await sut.ticketing.assign(ref.id, bo)
    assert (await sut.view(ref.id)).assignee_email == BO
    await sut.ticketing.unassign(ref.id)
    assert (await sut.view(ref.id)).assignee_email is None


async def test_a_public_comment_and_an_internal_note_keep_their_visibility(
    sut: SystemUnderTest,
) -> None:
    ref = await sut.ticketing.create_ticket(ticket(), idempotency_key=KEY)

    await sut.ticketing.add_comment(
        ref.id, "We refunded you.", public=True, author=None, idempotency_key="c1"
    )
    for _ in range(2):  # the second time as a retry after a lost answer would
        await sut.ticketing.add_comment(
            ref.id, "Refund #77 issued", public=False, author=None, idempotency_key="c2"
        )

    assert (await sut.view(ref.id)).comments == (
        ("We refunded you.", True),
        ("Refund #77 issued", False),
    )


async def test_status_pending_then_solved(sut: SystemUnderTest) -> None:
    ref = await sut.ticketing.create_ticket(ticket(), idempotency_key=KEY)

    await sut.ticketing.set_status(ref.id, TicketStatus.PENDING)
    assert (await sut.view(ref.id)).status == "pending"
    await sut.ticketing.set_status(ref.id, TicketStatus.SOLVED)
    assert (await sut.view(ref.id)).status == "solved"


# -- assignment refused -----------------------------------------------------------------------


@REMOTE_ONLY
async def test_an_unknown_agent_is_rejected_and_nothing_is_made(sut: SystemUnderTest) -> None:
    sut.remote("agent_directory")
    with pytest.raises(AssignmentRejected):
        await sut.ticketing.create_ticket(ticket(STRANGER), idempotency_key=KEY)
    assert await sut.ticket_ids() == []
    # The caller's fallback: the same key, unassigned.
    ref = await sut.ticketing.create_ticket(ticket(), idempotency_key=KEY)
    with pytest.raises(AssignmentRejected):
        await sut.ticketing.assign(ref.id, STRANGER)

    assert await sut.ticket_ids() == [ref.id]
    assert (await sut.view(ref.id)).assignee_email is None


@REMOTE_ONLY
async def test_a_refused_assignment_is_rejected_and_nothing_is_made(sut: SystemUnderTest) -> None:
    remote = sut.remote("network")
    bo = await remote.agent(BO, "Bo Agent")
    remote.reject_assignment()
    with pytest.raises(AssignmentRejected):
        await remote.ticketing.create_ticket(ticket(bo), idempotency_key=KEY)
    assert await remote.ticket_ids() == []
    ref = await remote.ticketing.create_ticket(ticket(), idempotency_key=KEY)
    with pytest.raises(AssignmentRejected):
        await remote.ticketing.assign(ref.id, bo)

    assert await remote.ticket_ids() == [ref.id]
    assert (await remote.view(ref.id)).assignee_email is None


# -- the system failing -------------------------------------------------------------------------


@REMOTE_ONLY
async def test_a_server_error_is_unavailable(sut_once: SystemUnderTest) -> None:
    remote = sut_once.remote("network")
    ref = await remote.ticketing.create_ticket(ticket(), idempotency_key=KEY)
    remote.fail_next(1, 500)
    with pytest.raises(Unavailable):
        await remote.ticketing.set_status(ref.id, TicketStatus.PENDING)
    assert (await remote.view(ref.id)).status == "open"

    await remote.ticketing.set_status(ref.id, TicketStatus.PENDING)  # the next try works
    assert (await remote.view(ref.id)).status == "pending"


@REMOTE_ONLY
async def test_a_system_that_is_down_is_unavailable(sut: SystemUnderTest) -> None:
    remote = sut.remote("network")
    ref = await remote.ticketing.create_ticket(ticket(), idempotency_key=KEY)
    remote.down()
    with pytest.raises(Unavailable):
        await remote.ticketing.set_status(ref.id, TicketStatus.PENDING)
    await remote.back()

    await remote.ticketing.set_status(ref.id, TicketStatus.PENDING)
    assert (await remote.view(ref.id)).status == "pending"


@REMOTE_ONLY
async def test_a_rate_limit_keeps_the_retry_after(sut_once: SystemUnderTest) -> None:
    remote = sut_once.remote("network")
    ref = await remote.ticketing.create_ticket(ticket(), idempotency_key=KEY)
    remote.fail_next(1, 429, retry_after=7)
    with pytest.raises(RateLimited) as limited:
        await remote.ticketing.set_status(ref.id, TicketStatus.PENDING)

    assert limited.value.retry_after == 7
    assert (await remote.view(ref.id)).status == "open"


# -- two-way sync -------------------------------------------------------------------------------


@REMOTE_ONLY
async def test_agents_actions_come_back_as_events(sut: SystemUnderTest) -> None:
    remote = sut.remote("sync")
    await remote.agent(BO, "Bo Agent")
    ref = await remote.ticketing.create_ticket(ticket(), idempotency_key=KEY)

    comment = await remote.agent_comment(ref.id, "Refund sent.", public=True, author_email=BO)
    note = await remote.agent_comment(ref.id, "Card ends 42", public=False, author_email=BO)
    assigned = await remote.agent_assign(ref.id, BO)
    unassigned = await remote.agent_assign(ref.id, None)
    solved = await remote.agent_solve(ref.id)

    assert [(e.kind, e.body, e.public, e.author_email) for e in comment + note] == [
        (TicketEventKind.COMMENT, "Refund sent.", True, BO),
        (TicketEventKind.COMMENT, "Card ends 42", False, BO),
    ]
    assert [(e.kind, e.assignee_email) for e in assigned] == [(TicketEventKind.ASSIGNED, BO)]
    assert [e.kind for e in unassigned] == [TicketEventKind.UNASSIGNED]
    assert [(e.kind, e.status) for e in solved] == [(TicketEventKind.STATUS, TicketStatus.SOLVED)]
    events = comment + note + assigned + unassigned + solved
    assert {(e.system, e.ticket_id, e.from_deskhand) for e in events} == {
        (remote.name, ref.id, False)
    }
    assert len({e.event_id for e in events}) == 5
    # Reported a second time (a retried webhook, an overlapping poll): the same events.
    again = await remote.reported_again()
    assert [e for e in events if e not in again] == []


@REMOTE_ONLY
async def test_deskhands_own_comments_come_back_marked(sut: SystemUnderTest) -> None:
    remote = sut.remote("sync")
    ref = await remote.ticketing.create_ticket(ticket(), idempotency_key=KEY)

    public = await remote.deskhand_comment(ref.id, "On it", public=True, key="c1")
    note = await remote.deskhand_comment(ref.id, "VIP customer", public=False, key="c2")

    assert [(e.kind, e.body, e.public, e.from_deskhand) for e in public + note] == [
        (TicketEventKind.COMMENT, "On it", True, True),
        (TicketEventKind.COMMENT, "VIP customer", False, True),
    ]


@REMOTE_ONLY
async def test_the_standin_saw_only_requests_its_spec_allows(sut: SystemUnderTest) -> None:
    remote = sut.remote("sync")
    bo = await remote.agent(BO, "Bo Agent")
    ref = await remote.ticketing.create_ticket(ticket(bo), idempotency_key=KEY)
    await remote.ticketing.unassign(ref.id)
    await remote.ticketing.add_comment(ref.id, "Hi", public=True, author="Bo", idempotency_key="c")
    await remote.ticketing.set_status(ref.id, TicketStatus.SOLVED)

    assert len(remote.standin.calls) >= 4
    assert remote.violations() == []
