"""CustomTicketing against the stand-in built from docs/custom-ticketing.openapi.yaml:
creating, assigning, commenting, statuses, and how failures are mapped.

Polling and webhooks are in test_custom_ticketing_sync.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from openapi_spec_validator import validate

from integrations.errors import NotFound, RateLimited, Rejected, Unavailable
from integrations.ticketing.custom import CustomTicketing
from integrations.ticketing.protocol import (
    Assignee,
    EvidenceLink,
    NewTicket,
    Requester,
    TicketPriority,
    TicketStatus,
    Turn,
)
from tests.support.custom_standin import CustomStandIn
from tests.support.scripted_http import MakeClient, RecordingSleep, Reply, running_server

CONTRACT = Path(__file__).resolve().parents[2] / "docs" / "custom-ticketing.openapi.yaml"
AGENT = Assignee(slack_user_id="U1", name="Grace", email="grace@example.com")


def new_ticket(*, assignee: Assignee | None = None, handoff: str = "sess-42:esc-1") -> NewTicket:
    return NewTicket(
        handoff_id=handoff,
        reference="DH-1042",
        external_conversation_id="sess-42",
        subject="[DH-1042] Ada: charged twice",
        summary="Charged twice for the March invoice.",
        reason="no_evidence",
        priority=TicketPriority.URGENT,
        requester=Requester(external_id="c-9", name="Ada", email="ada@example.com"),
        transcript=(Turn("customer", "I was charged twice", "2025-03-14T09:28:00Z"),),
        evidence=(EvidenceLink("Refund policy", "https://example.com/kb/1", 0.82),),
        suggested_questions=("Which card?",),
        assignee=assignee,
        metadata={"fallback_reason": "no_evidence", "deskhand_reference": "DH-1042"},
    )


@pytest.fixture
async def standin() -> AsyncIterator[CustomStandIn]:
    server = CustomStandIn()
    await server.start()
    server.add_agent(AGENT.email or "", "Grace")
    yield server
    await server.stop()


@pytest.fixture
async def custom(standin: CustomStandIn, make_client: MakeClient) -> CustomTicketing:
    http = await make_client(timeout=2.0, max_attempts=3, backoff_base=0.01)
    return CustomTicketing(http, url=standin.url, token=standin.token, webhook_secret="whsec")


def test_the_contract_is_valid_openapi() -> None:
    document = yaml.safe_load(CONTRACT.read_text(encoding="utf-8"))
    validate(document)  # raises on any error
    webhook = document["x-webhooks"]["ticketEvents"]["post"]
    assert {p["name"] for p in webhook["parameters"]} == {
        "X-Ticketing-Timestamp",
        "X-Ticketing-Signature",
    }
    event_types = document["components"]["schemas"]["TicketEvent"]["properties"]["type"]["enum"]
    assert set(event_types) == {
        "comment.created",
        "ticket.assigned",
        "ticket.unassigned",
        "ticket.status_changed",
    }


async def test_create_sends_the_whole_handoff_and_keeps_metadata(
    custom: CustomTicketing, standin: CustomStandIn
) -> None:
    ref = await custom.create_ticket(new_ticket(), idempotency_key="key-1")

    assert (ref.system, ref.id) == ("custom", "TCK-1001")
    assert ref.url == "https://tickets.example.com/t/TCK-1001"
    ticket = standin.ticket(ref.id)
    assert ticket.external_id == "sess-42"
    assert (ticket.handoff_id, ticket.handoff_reference) == ("sess-42:esc-1", "DH-1042")
    assert (ticket.priority, ticket.status, ticket.assignee_email) == ("urgent", "open", None)
    assert ticket.requester_email == "ada@example.com"
    assert ticket.metadata == {"fallback_reason": "no_evidence", "deskhand_reference": "DH-1042"}
    assert "Charged twice for the March invoice." in ticket.description
    assert "customer [2025-03-14T09:28:00Z]: I was charged twice" in ticket.description
    assert ticket.created["transcript"][0]["text"] == "I was charged twice"
    assert ticket.created["evidence"][0]["score"] == 0.82
    assert ticket.created["suggested_questions"] == ["Which card?"]
    assert ticket.created["reason"] == "no_evidence"
    [call] = standin.calls
    assert call.headers["Idempotency-Key"] == "key-1"
    assert call.headers["Authorization"] == f"Bearer {standin.token}"
    assert "assignee_email" not in call.body
    assert standin.violations == []


async def test_create_assigned(custom: CustomTicketing, standin: CustomStandIn) -> None:
    ref = await custom.create_ticket(new_ticket(assignee=AGENT), idempotency_key="key-1")

    assert standin.ticket(ref.id).assignee_email == "grace@example.com"
    assert standin.violations == []


async def test_the_same_idempotency_key_returns_the_first_ticket(
    custom: CustomTicketing, standin: CustomStandIn
) -> None:
    first = await custom.create_ticket(new_ticket(), idempotency_key="key-1")
    again = await custom.create_ticket(new_ticket(), idempotency_key="key-1")
    other = await custom.create_ticket(new_ticket(handoff="h-2"), idempotency_key="key-2")

    assert again == first
    assert other.id != first.id
    assert [c.status for c in standin.calls] == [201, 200, 201]
    assert len(standin.tickets()) == 2
    assert standin.violations == []


async def test_a_lost_answer_then_a_retry_makes_one_ticket(
    standin: CustomStandIn, make_client: MakeClient
) -> None:
    http = await make_client(timeout=0.2, max_attempts=1)
    custom = CustomTicketing(http, url=standin.url, token=standin.token)
    standin.slow(1.0)  # the stand-in creates the ticket, then answers too late

    with pytest.raises(Unavailable):
        await custom.create_ticket(new_ticket(), idempotency_key="key-1")
    standin.slow(0)
    ref = await custom.create_ticket(new_ticket(), idempotency_key="key-1")

    assert [t.id for t in standin.tickets()] == [ref.id]
    assert standin.calls[-1].status == 200
    assert standin.violations == []


async def test_a_5xx_is_retried_without_a_second_ticket(
    custom: CustomTicketing, standin: CustomStandIn
) -> None:
    standin.fail_next(1, 503)
    ref = await custom.create_ticket(new_ticket(), idempotency_key="key-1")

    assert [c.status for c in standin.calls] == [503, 201]
    assert [t.id for t in standin.tickets()] == [ref.id]
    assert standin.violations == []


@pytest.mark.parametrize("agent", [Assignee("U9", "Nobody", "nobody@example.com"), AGENT])
async def test_create_with_an_agent_that_cannot_be_assigned_is_rejected(
    custom: CustomTicketing, standin: CustomStandIn, agent: Assignee
) -> None:
    standin.reject_assignment(agent == AGENT)  # a known agent the system refuses

    with pytest.raises(Rejected) as caught:
        await custom.create_ticket(new_ticket(assignee=agent), idempotency_key="key-1")

    assert caught.value.status == 422
    assert "assignment rejected" in caught.value.message
    assert standin.tickets() == []
    # A refused request is not stored: the same key then creates the ticket unassigned.
    ref = await custom.create_ticket(new_ticket(), idempotency_key="key-1")
    assert standin.ticket(ref.id).assignee_email is None
    assert standin.calls[-1].status == 201
    assert standin.violations == []


async def test_assign_unknown_or_refused_agent_is_rejected(
    custom: CustomTicketing, standin: CustomStandIn
) -> None:
    ref = await custom.create_ticket(new_ticket(), idempotency_key="key-1")

    with pytest.raises(Rejected, match="assignee_not_found"):
        await custom.assign(ref.id, Assignee("U9", "Nobody", "nobody@example.com"))
    standin.reject_assignment()
    with pytest.raises(Rejected, match="assignee_not_assignable"):
        await custom.assign(ref.id, AGENT)
    with pytest.raises(Rejected, match="no email"):
        await custom.assign(ref.id, Assignee("U2", "No mail"))

    assert standin.ticket(ref.id).assignee_email is None
    assert len(standin.calls) == 3  # the agent without an email never reached the system
    assert standin.violations == []


async def test_assign_unassign_and_status(custom: CustomTicketing, standin: CustomStandIn) -> None:
    ref = await custom.create_ticket(new_ticket(), idempotency_key="key-1")

    await custom.assign(ref.id, AGENT)
    assert standin.ticket(ref.id).assignee_email == "grace@example.com"
    await custom.unassign(ref.id)
    assert standin.ticket(ref.id).assignee_email is None
    await custom.set_status(ref.id, TicketStatus.PENDING)
    assert standin.ticket(ref.id).status == "pending"
    await custom.set_status(ref.id, TicketStatus.SOLVED)
    assert standin.ticket(ref.id).status == "solved"

    patches = [c.body for c in standin.calls if c.method == "PATCH"]
    assert patches == [
        {"assignee_email": "grace@example.com"},
        {"assignee_email": None},
        {"status": "pending"},
        {"status": "solved"},
    ]
    assert standin.violations == []


async def test_public_comments_and_internal_notes_once_per_key(
    custom: CustomTicketing, standin: CustomStandIn
) -> None:
    ref = await custom.create_ticket(new_ticket(), idempotency_key="key-1")

    await custom.add_comment(
        ref.id, "We refunded you.", public=True, author="Grace", idempotency_key="c1"
    )
    await custom.add_comment(ref.id, "Refund #77", public=False, author=None, idempotency_key="c2")
    await custom.add_comment(
        ref.id, "We refunded you.", public=True, author="Grace", idempotency_key="c1"
    )

    comments = standin.ticket(ref.id).comments
    assert [(c.body, c.public, c.author_name) for c in comments] == [
        ("We refunded you.", True, "Grace"),
        ("Refund #77", False, "deskhand"),
    ]
    assert {c.author_email for c in comments} == {standin.api_identity_email}
    assert [c.status for c in standin.calls[1:]] == [201, 201, 200]
    assert standin.violations == []


async def test_failures_are_mapped(
    custom: CustomTicketing, standin: CustomStandIn, sleep: RecordingSleep
) -> None:
    ref = await custom.create_ticket(new_ticket(), idempotency_key="key-1")

    standin.fail_next(3, 500)
    with pytest.raises(Unavailable):
        await custom.set_status(ref.id, TicketStatus.PENDING)
    standin.fail_next(3, 429, retry_after=7)
    with pytest.raises(RateLimited) as limited:
        await custom.set_status(ref.id, TicketStatus.PENDING)
    assert limited.value.retry_after == 7
    assert sleep.waits[-2:] == [7, 7]  # the shared client honoured Retry-After
    with pytest.raises(NotFound):
        await custom.set_status("TCK-404", TicketStatus.PENDING)

    standin.go_down()
    with pytest.raises(Unavailable):
        await custom.add_comment(ref.id, "hi", public=True, author=None, idempotency_key="c1")
    await standin.come_back()
    await custom.set_status(ref.id, TicketStatus.PENDING)

    assert standin.ticket(ref.id).status == "pending"
    assert standin.ticket(ref.id).comments == []
    assert standin.violations == []


async def test_a_wrong_token_is_rejected(standin: CustomStandIn, make_client: MakeClient) -> None:
    custom = CustomTicketing(await make_client(), url=standin.url, token="wrong")

    with pytest.raises(Rejected) as caught:
        await custom.create_ticket(new_ticket(), idempotency_key="key-1")

    assert caught.value.status == 401
    assert standin.tickets() == []
    assert standin.violations == []


async def test_the_standin_reports_requests_that_break_the_contract(
    standin: CustomStandIn, make_client: MakeClient
) -> None:
    http = await make_client()
    headers = {"Authorization": f"Bearer {standin.token}"}
    body = {"body": "hi", "public": True}
    url = standin.url + "/tickets/TCK-1/comments"

    with pytest.raises(Rejected) as missing_key:
        await http.request("POST", url, system="custom", json=body, headers=headers)
    with pytest.raises(Rejected) as misspelt:
        await http.request(
            "POST",
            url,
            system="custom",
            json={**body, "pubic": False},
            headers=headers,
            idempotency_key="k",
        )

    assert (missing_key.value.status, misspelt.value.status) == (400, 400)
    assert len(standin.violations) == 2
    assert "Idempotency-Key" in standin.violations[0]
    assert "pubic" in standin.violations[1]


async def test_a_2xx_that_is_not_json_counts_as_unavailable(make_client: MakeClient) -> None:
    async with running_server() as proxy:  # e.g. a captive proxy answering with HTML
        proxy.play(Reply(200, "<html>maintenance</html>", {"Content-Type": "text/html"}))
        custom = CustomTicketing(await make_client(), url=proxy.base_url, token="t")

        with pytest.raises(Unavailable, match="not a JSON object"):
            await custom.create_ticket(new_ticket(), idempotency_key="key-1")
        with pytest.raises(Unavailable):
            await custom.changes_since(None, limit=10)
