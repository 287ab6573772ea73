"""IntercomTicketing against the Intercom stand-in, through a real HttpClient: tickets,
discovery, assignment, comments, states and how failures surface."""

from __future__ import annotations

import contextlib
import re
from typing import Any

import pytest

from integrations.errors import NotFound, RateLimited, Rejected, Unavailable
from integrations.ticketing.intercom import IntercomTicketing
from integrations.ticketing.protocol import Assignee, Requester, TicketStatus
from tests.support.intercom_fixtures import connect, intercom, new_ticket, standin
from tests.support.intercom_standin import IntercomStandIn

__all__ = ["connect", "intercom", "standin"]  # fixtures used by name

KEY = "deskhand-handoff-h-0001"
ANA = Assignee(slack_user_id="U0ANA", name="Ana Agent", email="ana@support.example")


def paths(standin: IntercomStandIn, method: str, path: str) -> int:
    return sum(1 for c in standin.calls if (c.method, c.path) == (method, path))


async def test_creates_a_ticket_carrying_the_handoff(
    intercom: IntercomTicketing, standin: IntercomStandIn
) -> None:
    ref = await intercom.create_ticket(new_ticket(), idempotency_key=KEY)

    assert (ref.system, [t.id for t in standin.tickets()]) == ("intercom", [ref.id])
    ticket = standin.ticket(ref.id)
    assert ticket.subject == "[H-1001] Ann: wants a refund"
    assert (ticket.priority, ticket.status, ticket.assignee_email) == ("high", "open", None)
    assert (ticket.external_id, ticket.requester_email) == ("session-42", "ann@example.com")
    assert ticket.metadata == {
        "fallback_reason": "low_confidence",
        "handoff_reason": "asked for a human",
        "deskhand_key": KEY,
        "deskhand_conversation_id": "session-42",
        "deskhand_handoff_id": "h-0001",
    }
    for text in (
        "Ann wants a refund for order 1234.",
        "Reason for handoff: asked for a human",
        "- Refund policy <https://kb.example/refunds> (score 0.87)",
        "- Which order is it?",
        "user: I want my money back",
        "- fallback_reason: low_confidence",
        f"deskhand-key: {KEY}",
    ):
        assert text in (ticket.description or "")
    contact = next(iter(standin.state.contacts.values()))
    assert (contact["external_id"], contact["email"]) == ("cust-7", "ann@example.com")
    for call in standin.calls:
        assert call.headers["Intercom-Version"] == "2.16"
        assert call.headers["Authorization"] == f"Bearer {standin.access_token}"


async def test_creates_the_ticket_assigned(
    intercom: IntercomTicketing, standin: IntercomStandIn
) -> None:
    standin.add_agent("Ana@Support.example", "Ana Agent")  # emails match case-insensitively
    ref = await intercom.create_ticket(new_ticket(assignee=ANA), idempotency_key=KEY)

    assert standin.ticket(ref.id).assignee_email == "Ana@Support.example"
    assert paths(standin, "PUT", f"/tickets/{ref.id}") == 0  # assigned as it was made


async def test_uses_the_customers_existing_contact(
    intercom: IntercomTicketing, standin: IntercomStandIn
) -> None:
    standin.state.create_contact({"role": "user", "email": "ann@example.com"})
    standin.state.create_contact({"role": "user", "external_id": "cust-8", "email": "b@x.example"})
    await intercom.create_ticket(new_ticket(), idempotency_key=KEY)  # found by email
    second = new_ticket(requester=Requester(external_id="cust-8"))  # by external id
    await intercom.create_ticket(second, idempotency_key=KEY + "-2")

    assert paths(standin, "POST", "/contacts") == 0
    assert [t.requester_email for t in standin.tickets()] == ["ann@example.com", "b@x.example"]


@pytest.mark.parametrize("ticket_type_id", [None, "41"])  # "41" has no deskhand_key attribute
async def test_a_retry_after_a_lost_response_finds_the_ticket(
    connect: Any, standin: IntercomStandIn, ticket_type_id: str | None
) -> None:
    intercom = await connect(ticket_type_id=ticket_type_id, http={"max_attempts": 1})
    standin.lose_response("POST", "/tickets")  # the ticket is made, the answer is lost
    with pytest.raises(Unavailable):
        await intercom.create_ticket(new_ticket(), idempotency_key=KEY)
    assert len(standin.tickets()) == 1

    ref = await intercom.create_ticket(new_ticket(), idempotency_key=KEY)

    assert [t.id for t in standin.tickets()] == [ref.id]
    assert paths(standin, "POST", "/tickets") == 1
    other = await intercom.create_ticket(new_ticket(), idempotency_key=KEY + "-other")
    assert other.id != ref.id


async def test_the_client_does_not_resend_a_create_whose_answer_was_lost(
    intercom: IntercomTicketing, standin: IntercomStandIn
) -> None:
    standin.lose_response("POST", "/tickets")  # HttpClient's own retry makes a second one
    with contextlib.suppress(Unavailable):
        await intercom.create_ticket(new_ticket(), idempotency_key=KEY)
    assert len(standin.tickets()) == 1


async def test_discovers_the_ticket_type_and_admin_once(
    intercom: IntercomTicketing, standin: IntercomStandIn
) -> None:
    first = await intercom.create_ticket(new_ticket(), idempotency_key=KEY)
    await intercom.create_ticket(new_ticket(), idempotency_key=KEY + "-2")
    await intercom.set_status(first.id, TicketStatus.PENDING)
    await intercom.add_comment(first.id, "hi", public=True, author=None, idempotency_key="c1")

    assert paths(standin, "GET", "/ticket_types") == 1
    assert paths(standin, "GET", "/me") == 1
    # The plain "Bug report" type comes first; the one prepared for deskhand is chosen.
    assert {t["ticket_type"]["id"] for t in standin.state.tickets.values()} == {"42"}


async def test_configured_type_and_admin_are_not_discovered(
    connect: Any, standin: IntercomStandIn
) -> None:
    intercom = await connect(ticket_type_id="41", admin_id=standin.deskhand_admin_id)
    ref = await intercom.create_ticket(new_ticket(), idempotency_key=KEY)
    await intercom.set_status(ref.id, TicketStatus.SOLVED)

    assert paths(standin, "GET", "/me") == 0
    ticket = standin.ticket(ref.id)
    assert (ticket.priority, ticket.status, ticket.metadata) == (None, "solved", {})
    assert "Priority: high" in (ticket.description or "")  # kept where the type allows


async def test_an_unknown_ticket_type_is_rejected(connect: Any) -> None:
    intercom = await connect(ticket_type_id="999")
    with pytest.raises(Rejected, match="ticket type"):
        await intercom.create_ticket(new_ticket(), idempotency_key=KEY)


async def test_assigns_and_unassigns(intercom: IntercomTicketing, standin: IntercomStandIn) -> None:
    standin.add_agent("ana@support.example", "Ana Agent")
    ref = await intercom.create_ticket(new_ticket(), idempotency_key=KEY)

    await intercom.assign(ref.id, ANA)
    assert standin.ticket(ref.id).assignee_email == "ana@support.example"
    await intercom.unassign(ref.id)
    assert standin.ticket(ref.id).assignee_email is None


async def test_assigning_to_an_unknown_admin_is_rejected(
    intercom: IntercomTicketing, standin: IntercomStandIn
) -> None:
    ref = await intercom.create_ticket(new_ticket(), idempotency_key=KEY)
    with pytest.raises(Rejected, match=r"assignment: no Intercom admin ana@support\.example"):
        await intercom.assign(ref.id, ANA)
    with pytest.raises(Rejected, match="assignment"):
        await intercom.create_ticket(new_ticket(assignee=ANA), idempotency_key=KEY + "-2")
    with pytest.raises(Rejected, match="assignment: agent U0X has no email"):
        await intercom.assign(ref.id, Assignee(slack_user_id="U0X"))
    assert paths(standin, "PUT", f"/tickets/{ref.id}") == 0
    assert len(standin.tickets()) == 1


async def test_a_refused_assignment_is_rejected_and_makes_nothing(
    intercom: IntercomTicketing, standin: IntercomStandIn
) -> None:
    standin.add_agent("ana@support.example", "Ana Agent")
    standin.reject_assignment()
    with pytest.raises(Rejected, match="assignment: creating the ticket assigned to") as refused:
        await intercom.create_ticket(new_ticket(assignee=ANA), idempotency_key=KEY)
    assert refused.value.status == 400
    assert standin.tickets() == []

    ref = await intercom.create_ticket(new_ticket(), idempotency_key=KEY)  # the caller's fallback
    with pytest.raises(Rejected, match=re.escape(f"assignment to {ANA.email} of ticket {ref.id}")):
        await intercom.assign(ref.id, ANA)
    assert standin.ticket(ref.id).assignee_email is None
    standin.reject_assignment(False)
    await intercom.assign(ref.id, ANA)
    assert standin.ticket(ref.id).assignee_email == "ana@support.example"


async def test_comments_and_notes_once_each(
    intercom: IntercomTicketing, standin: IntercomStandIn
) -> None:
    ref = await intercom.create_ticket(new_ticket(), idempotency_key=KEY)
    # Each sent twice, as a retry after a lost answer would (the outbox keeps their order).
    for _ in range(2):
        await intercom.add_comment(
            ref.id, "Hi Ann,\n\nrefunded.", public=True, author="Ana", idempotency_key="k1"
        )
    for _ in range(2):
        await intercom.add_comment(
            ref.id, "VIP <customer>", public=False, author="Ana", idempotency_key="k2"
        )

    comments = [(c.body, c.public, c.author_email) for c in standin.ticket(ref.id).comments]
    assert comments == [
        ("Hi Ann,\n\nrefunded.", True, standin.deskhand_email),
        ("VIP <customer>\n\n— Ana (via deskhand)", False, standin.deskhand_email),
    ]
    reply = next(c for c in standin.calls if c.path.endswith("/reply"))
    assert reply.body["body"] == "<p>Hi Ann,</p><p>refunded.</p>"
    # Said again after someone else spoke: a new message, posted.
    assert await standin.agent_comment(ref.id, "Thanks!", author_email="bo@support.example") is None
    await intercom.add_comment(
        ref.id, "VIP <customer>", public=False, author="Ana", idempotency_key="k3"
    )
    assert len(standin.ticket(ref.id).comments) == 4


@pytest.mark.parametrize(
    ("status", "seen"),
    [
        (TicketStatus.PENDING, "pending"),
        (TicketStatus.SOLVED, "solved"),
        (TicketStatus.OPEN, "open"),
    ],
)
async def test_sets_the_state(
    intercom: IntercomTicketing, standin: IntercomStandIn, status: TicketStatus, seen: str
) -> None:
    ref = await intercom.create_ticket(new_ticket(), idempotency_key=KEY)
    await intercom.set_status(
        ref.id, TicketStatus.SOLVED if status == TicketStatus.OPEN else TicketStatus.OPEN
    )
    await intercom.set_status(ref.id, status)

    assert standin.ticket(ref.id).status == seen
    update = [c for c in standin.calls if c.method == "PUT"][-1]
    assert update.body["admin_id"] == int(standin.deskhand_admin_id)  # an integer in the spec


async def test_a_missing_ticket_is_not_found(intercom: IntercomTicketing) -> None:
    with pytest.raises(NotFound):
        await intercom.set_status("404404", TicketStatus.SOLVED)


async def test_server_errors_are_retried_then_unavailable(
    intercom: IntercomTicketing, standin: IntercomStandIn
) -> None:
    standin.fail_next(2, 500)
    await intercom.prepare()  # GET /ticket_types answered at the third attempt
    standin.fail_next(3, 503)
    with pytest.raises(Unavailable):
        await intercom.create_ticket(new_ticket(), idempotency_key=KEY)
    assert standin.tickets() == []


async def test_rate_limits_surface_with_the_wait(
    intercom: IntercomTicketing, standin: IntercomStandIn
) -> None:
    standin.fail_next(1, 429, retry_after=120)  # beyond the client's own waiting
    with pytest.raises(RateLimited) as limited:
        await intercom.create_ticket(new_ticket(), idempotency_key=KEY)
    assert limited.value.retry_after == 120


async def test_a_system_that_is_down_is_unavailable(connect: Any, standin: IntercomStandIn) -> None:
    intercom = await connect(http={"failure_threshold": 100})
    await intercom.prepare()  # a pooled connection exists; it must drop too
    standin.go_down()
    with pytest.raises(Unavailable):
        await intercom.create_ticket(new_ticket(), idempotency_key=KEY)
    await standin.come_back()
    ref = await intercom.create_ticket(new_ticket(), idempotency_key=KEY)
    assert [t.id for t in standin.tickets()] == [ref.id]


async def test_there_is_no_change_feed(intercom: IntercomTicketing) -> None:
    changes = await intercom.changes_since("c1", limit=50)
    assert (changes.events, changes.cursor) == ((), "c1")


async def test_the_standin_answers_what_the_spec_refuses_with_400(
    standin: IntercomStandIn, make_client: Any
) -> None:
    http = await make_client(max_attempts=1)
    auth = {"Authorization": f"Bearer {standin.access_token}"}
    with pytest.raises(Rejected) as refused:  # this admin_id is an integer in the spec
        await http.request(
            "PUT",
            f"{standin.url}/tickets/1",
            system="intercom",
            json={"admin_id": "1"},
            headers=auth | {"Intercom-Version": "2.16"},
        )
    assert refused.value.status == 400
    with pytest.raises(Rejected):
        await http.request("GET", f"{standin.url}/me", system="intercom", headers=auth)
    assert len(standin.violations) == 2
    assert "Intercom-Version" in standin.violations[1]
    standin.violations.clear()  # seen; the fixture checks that none are left
    with pytest.raises(Rejected) as unauthorized:
        await http.request(
            "GET", f"{standin.url}/me", system="intercom", headers={"Intercom-Version": "2.16"}
        )
    assert unauthorized.value.status == 400  # no bearer token: against the spec's security
    standin.violations.clear()
    wrong = {"Authorization": "Bearer nope", "Intercom-Version": "2.16"}
    with pytest.raises(Rejected) as wrong_token:
        await http.request("GET", f"{standin.url}/me", system="intercom", headers=wrong)
    assert (wrong_token.value.status, standin.violations) == (401, [])
