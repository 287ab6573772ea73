"""ZendeskTicketing's API side against the Zendesk stand-in, through a real HttpClient.
The webhook side is in test_zendesk_webhooks.py."""

from __future__ import annotations

import pytest

from integrations.errors import NotFound, RateLimited, Rejected, Unavailable
from integrations.http import HttpClient
from integrations.ticketing.protocol import Assignee, Requester, TicketStatus
from integrations.ticketing.zendesk import ZendeskTicketing
from tests.support.zendesk_fixtures import (  # noqa: F401 - pytest fixtures
    KEY,
    http_fixture,
    make_client,
    new_ticket,
    standin_fixture,
    zendesk_fixture,
)
from tests.support.zendesk_standin import ZendeskStandIn


def posts(standin: ZendeskStandIn, path: str) -> int:
    return sum(1 for c in standin.calls if c.method == "POST" and c.path == path)


# -- creating tickets ---------------------------------------------------------------------------


async def test_create_unassigned_ticket(standin: ZendeskStandIn, zendesk: ZendeskTicketing) -> None:
    ref = await zendesk.create_ticket(new_ticket(), idempotency_key=KEY)
    t = standin.ticket(ref.id)
    assert ref.system == "zendesk" and ref.url == f"{standin.url}/agent/tickets/{ref.id}"
    assert (t.external_id, t.priority, t.status, t.assignee_email) == (KEY, "high", "open", None)
    assert t.requester_email == "ann@example.org"
    assert "deskhand" in t.tags and "deskhand_fallback_low_confidence" in t.tags
    assert t.metadata["fallback_reason"] == "low_confidence"
    assert t.metadata["deskhand_conversation_id"] == "sess-42"
    assert t.metadata["deskhand_handoff_id"] == "h1"
    assert not t.description_public  # the bot's notes are not e-mailed to the customer
    for text in (
        "charged twice",
        "may not issue refunds",
        "Refund policy",
        "Which card",
        "sess-42",
    ):
        assert text in t.description
    assert "I paid twice <b>!</b>" in t.description  # escaped in html_body, shown as text
    create = next(c for c in standin.calls if c.method == "POST" and c.path == "/api/v2/tickets")
    html = create.body["ticket"]["comment"]["html_body"]
    assert '<a href="https://kb.example/refunds">' in html and "&lt;b&gt;" in html


async def test_requester_without_email_is_found_by_external_id(
    standin: ZendeskStandIn, zendesk: ZendeskTicketing
) -> None:
    anon = Requester(external_id="visitor-7", name=None, email=None)
    first = await zendesk.create_ticket(new_ticket(requester=anon), idempotency_key="k1")
    second = await zendesk.create_ticket(new_ticket(requester=anon), idempotency_key="k2")
    assert standin.ticket(first.id).requester_external_id == "visitor-7"
    assert standin.ticket(first.id).requester_email is None
    users = [u for u in standin.state.users.values() if u["external_id"] == "visitor-7"]
    assert len(users) == 1 and first.id != second.id


async def test_create_assigned_ticket(standin: ZendeskStandIn, zendesk: ZendeskTicketing) -> None:
    standin.add_agent("bo@example.com", "Bo")
    agent = Assignee("U1", "Bo", "Bo@Example.com")
    ref = await zendesk.create_ticket(new_ticket(assignee=agent), idempotency_key=KEY)
    assert standin.ticket(ref.id).assignee_email == "bo@example.com"


@pytest.mark.parametrize("refuse", [False, True])
async def test_create_with_unassignable_agent_is_rejected(
    standin: ZendeskStandIn, zendesk: ZendeskTicketing, refuse: bool
) -> None:
    standin.add_agent("bo@example.com", "Bo")
    standin.reject_assignment(refuse)
    email = "bo@example.com" if refuse else "nobody@example.com"
    with pytest.raises(Rejected, match="assign") as caught:
        await zendesk.create_ticket(
            new_ticket(assignee=Assignee("U1", None, email)), idempotency_key=KEY
        )
    assert not isinstance(caught.value, NotFound)
    assert standin.tickets() == []
    # The caller's fallback: the same key, unassigned, makes the ticket.
    ref = await zendesk.create_ticket(new_ticket(), idempotency_key=KEY)
    assert standin.ticket(ref.id).assignee_email is None


async def test_end_user_with_agent_email_cannot_be_assigned(
    standin: ZendeskStandIn, zendesk: ZendeskTicketing
) -> None:
    await zendesk.create_ticket(new_ticket(), idempotency_key=KEY)  # ann becomes an end user
    with pytest.raises(Rejected, match="not a Zendesk agent"):
        await zendesk.assign("1", Assignee("U1", None, "ann@example.org"))


async def test_lost_answer_is_replayed_not_repeated(
    standin: ZendeskStandIn, zendesk: ZendeskTicketing
) -> None:
    standin.lose_next(
        1, method="POST", path="/api/v2/tickets"
    )  # the POST creates the ticket, then its answer is lost
    ref = await zendesk.create_ticket(new_ticket(), idempotency_key=KEY)
    assert posts(standin, "/api/v2/tickets") == 2  # the HTTP client retried ...
    assert [t.id for t in standin.tickets()] == [ref.id]  # ... and Zendesk replayed


async def test_a_later_attempt_finds_the_first_ticket(standin: ZendeskStandIn) -> None:
    once = await make_client(max_attempts=1)  # no retries inside the call: the outbox retries
    try:
        zendesk = ZendeskTicketing(once, **standin.client_kwargs())
        standin.lose_next(1, method="POST", path="/api/v2/tickets")
        with pytest.raises(Unavailable):
            await zendesk.create_ticket(new_ticket(), idempotency_key=KEY)
        assert len(standin.tickets()) == 1  # made, though the answer never came
        ref = await zendesk.create_ticket(new_ticket(), idempotency_key=KEY)
        assert [t.id for t in standin.tickets()] == [ref.id]
        assert posts(standin, "/api/v2/tickets") == 1
    finally:
        await once.close()


async def test_a_slow_answer_times_out(standin: ZendeskStandIn) -> None:
    hasty = await make_client(timeout=0.2, max_attempts=1)
    try:
        standin.slow(0.5)
        with pytest.raises(Unavailable):
            await ZendeskTicketing(hasty, **standin.client_kwargs()).whoami()
        standin.slow(0)
        assert await ZendeskTicketing(hasty, **standin.client_kwargs()).whoami()
    finally:
        await hasty.close()


# -- assignment, comments, status -----------------------------------------------------------------


async def test_assign_unassign_and_agent_cache(
    standin: ZendeskStandIn, zendesk: ZendeskTicketing
) -> None:
    standin.add_agent("bo@example.com", "Bo")
    ref = await zendesk.create_ticket(new_ticket(), idempotency_key=KEY)
    await zendesk.assign(ref.id, Assignee("U1", "Bo", "bo@example.com"))
    assert standin.ticket(ref.id).assignee_email == "bo@example.com"
    await zendesk.unassign(ref.id)
    assert standin.ticket(ref.id).assignee_email is None
    await zendesk.assign(ref.id, Assignee("U1", "Bo", "bo@example.com"))
    searches = [c for c in standin.calls if c.path == "/api/v2/users/search"]
    assert len(searches) == 1


async def test_assignment_failures_are_rejected(
    standin: ZendeskStandIn, zendesk: ZendeskTicketing
) -> None:
    standin.add_agent("bo@example.com", "Bo")
    ref = await zendesk.create_ticket(new_ticket(), idempotency_key=KEY)
    with pytest.raises(Rejected, match="cannot assign"):
        await zendesk.assign(ref.id, Assignee("U1", "Who", "who@example.com"))
    with pytest.raises(Rejected, match="no e-mail"):
        await zendesk.assign(ref.id, Assignee("U1", "Who", None))
    standin.reject_assignment()
    with pytest.raises(Rejected, match=r"assignment to bo@example\.com refused") as caught:
        await zendesk.assign(ref.id, Assignee("U1", "Bo", "bo@example.com"))
    assert caught.value.status == 422
    assert standin.ticket(ref.id).assignee_email is None
    with pytest.raises(NotFound):
        await zendesk.assign("999", Assignee("U1", "Bo", "bo@example.com"))


async def test_comments_public_and_internal_once_per_key(
    standin: ZendeskStandIn, zendesk: ZendeskTicketing
) -> None:
    ref = await zendesk.create_ticket(new_ticket(), idempotency_key=KEY)
    await zendesk.add_comment(ref.id, "Hello Ann", public=True, author="U1", idempotency_key="c1")
    await zendesk.add_comment(ref.id, "VIP", public=False, author=None, idempotency_key="c2")
    await zendesk.add_comment(ref.id, "Hello Ann", public=True, author="U1", idempotency_key="c1")
    comments = standin.ticket(ref.id).comments
    assert [(c.body, c.public) for c in comments] == [("Hello Ann", True), ("VIP", False)]
    assert comments[0].author_email == standin.api_email
    assert comments[0].metadata == {"deskhand_key": "c1", "deskhand_author": "U1"}


async def test_status_changes(standin: ZendeskStandIn, zendesk: ZendeskTicketing) -> None:
    standin.add_agent("bo@example.com", "Bo")
    agent = Assignee("U1", "Bo", "bo@example.com")
    ref = await zendesk.create_ticket(new_ticket(assignee=agent), idempotency_key=KEY)
    for status in (TicketStatus.PENDING, TicketStatus.SOLVED, TicketStatus.OPEN):
        await zendesk.set_status(ref.id, status)
        assert standin.ticket(ref.id).status == status.value
    assert standin.ticket(ref.id).assignee_email == "bo@example.com"


async def test_solving_an_unassigned_ticket_assigns_deskhand(
    standin: ZendeskStandIn, zendesk: ZendeskTicketing
) -> None:
    ref = await zendesk.create_ticket(new_ticket(), idempotency_key=KEY)
    await zendesk.set_status(ref.id, TicketStatus.SOLVED)
    t = standin.ticket(ref.id)
    assert (t.status, t.assignee_email) == ("solved", standin.api_email)


# -- failures -------------------------------------------------------------------------------------


async def test_server_errors_and_rate_limits(
    standin: ZendeskStandIn, zendesk: ZendeskTicketing
) -> None:
    standin.fail_next(3, 500)
    with pytest.raises(Unavailable):
        await zendesk.whoami()
    standin.fail_next(1, 429, retry_after=120)  # longer than the client will wait
    with pytest.raises(RateLimited) as caught:
        await zendesk.whoami()
    assert caught.value.retry_after == 120
    standin.fail_next(2, 503)  # shorter outages are ridden out by the client's retries
    assert await zendesk.whoami() == str(standin.state.api_user["id"])


async def test_down_then_back(standin: ZendeskStandIn, zendesk: ZendeskTicketing) -> None:
    ref = await zendesk.create_ticket(new_ticket(), idempotency_key=KEY)
    url = standin.url
    standin.go_down()
    with pytest.raises(Unavailable):
        await zendesk.set_status(ref.id, TicketStatus.PENDING)
    await standin.come_back()
    assert standin.url == url
    await zendesk.set_status(ref.id, TicketStatus.PENDING)
    assert standin.ticket(ref.id).status == "pending"


async def test_wrong_token_is_rejected(standin: ZendeskStandIn, http: HttpClient) -> None:
    wrong = ZendeskTicketing(http, **{**standin.client_kwargs(), "api_token": "nope"})
    with pytest.raises(Rejected) as caught:
        await wrong.whoami()
    assert caught.value.status == 401


async def test_standin_flags_requests_that_break_the_spec(
    standin: ZendeskStandIn, http: HttpClient, zendesk: ZendeskTicketing
) -> None:
    headers = zendesk._headers
    with pytest.raises(Rejected) as caught:
        await http.request(
            "PUT",
            f"{standin.url}/api/v2/tickets/1",
            system="zendesk",
            json={"ticket": {"status": "done"}},
            headers=headers,
        )
    assert caught.value.status == 400
    assert len(standin.violations) == 1 and "status" in standin.violations[0]
    standin.violations.clear()


async def test_changes_since_is_empty(zendesk: ZendeskTicketing) -> None:
    changes = await zendesk.changes_since("cursor-1", limit=50)
    assert (changes.events, changes.cursor) == ((), "cursor-1")
