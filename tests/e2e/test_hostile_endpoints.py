"""Hostile input against Slack's endpoint, the ticketing webhooks and the operations
endpoints, on both databases: what tests/e2e/test_hostile_input.py does for deskhand's own
webhooks, for the rest of the contract's endpoint list.

Each test keeps one running app for all its generated requests, and checks every answer
the same way (tests/support/hostile_client.py): no 5xx, a refusal is the contract's JSON
error with a status the request may get, a refusal stores nothing (every table counted
before and after), nothing logged at error level, no secret in the answer or the logs.
Afterwards the app is healthy and takes a normal handoff.

- ``POST /slack/events``: Events API callbacks, ``payload=`` interactivity forms
  (block_actions, view_submission, kinds left to Bolt), slash commands and garbage, signed
  with Slack's signing secret, or with one signature header broken (401). What an acked
  click or command starts after its ack must finish without an error too
  (tests/support/hostile_slack.py).
- ``POST /webhooks/tickets/{zendesk,intercom,custom}``: each system's genuine deliveries,
  changed or replaced by garbage, signed in its own scheme or broken
  (tests/support/hostile_tickets.py).
- ``GET /healthz``, ``/readyz``, ``/metrics``: other methods, hostile query strings and
  headers as raw bytes; the answers stay the documented ones and store nothing
  (tests/support/hostile_health.py). Another method gets the contract's JSON error with
  405, which docs/openapi.yaml does not list for these paths.

``DESKHAND_HOSTILE_EXAMPLES`` raises the number of requests, ``DESKHAND_HOSTILE_COUNTS``
collects the answers (bench/hostile_soak.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.harness import running
from tests.support.hostile_checks import (
    HOSTILE_TIMEOUT,
    documented_statuses,
    hostile_settings,
    no_error_logs,
)
from tests.support.hostile_client import HostileDesk, hostile_desk
from tests.support.hostile_health import (
    HEALTH_PATHS,
    NOT_ALLOWED,
    HealthRequest,
    allowed,
    assert_documented,
    health_requests,
    send_health,
)
from tests.support.hostile_slack import SLACK_EVENTS, SlackWorld, slack_requests, slack_world
from tests.support.hostile_tickets import (
    SYSTEMS,
    TICKETS,
    TicketWorld,
    ticket_requests,
    ticket_world,
)


@pytest.fixture
async def slack(database_url: str) -> AsyncIterator[SlackWorld]:
    async with slack_world(database_url) as world:
        yield world


@pytest.mark.timeout(HOSTILE_TIMEOUT)
@hostile_settings(examples=150)
@given(data=st.data())
async def test_slack_events(slack: SlackWorld, data: st.DataObject) -> None:
    request = data.draw(slack_requests(slack), label="request")
    headers = slack.signed(request.body, request.content_type, request.mutation)
    status, _ = await slack.client.exchange(
        SLACK_EVENTS, "POST", SLACK_EVENTS, request.body, headers, request.allowed()
    )
    if status < 400:
        await slack.settled()


@pytest.fixture(params=SYSTEMS)
async def tickets(request: pytest.FixtureRequest, database_url: str) -> AsyncIterator[TicketWorld]:
    async with ticket_world(request.param, database_url) as world:
        yield world


@pytest.mark.timeout(HOSTILE_TIMEOUT)
@hostile_settings(examples=100)
@given(data=st.data())
async def test_ticket_webhooks(tickets: TicketWorld, data: st.DataObject) -> None:
    request = data.draw(ticket_requests(tickets), label="request")
    headers = tickets.signed(request.body, request.content_type, request.mutation)
    documented = documented_statuses("post", TICKETS) - {503}  # 503: Intercom not ready
    status, body = await tickets.client.exchange(
        tickets.path,
        "POST",
        tickets.path,
        request.body,
        headers,
        request.allowed() & (documented | {200}),
    )
    if status == 200:
        assert body["status"] == "accepted" and body["applied"] >= 0, body
        with no_error_logs():  # what the change queued (Slack, the chatbot) goes out too
            await tickets.client.desk.settle()


@pytest.fixture
async def operations(database_url: str) -> AsyncIterator[HostileDesk]:
    async with running(database_url) as desk, hostile_desk(desk, database_url) as client:
        yield client


@pytest.mark.timeout(HOSTILE_TIMEOUT)
@pytest.mark.parametrize("path", HEALTH_PATHS)
@hostile_settings(examples=100)
@given(request=health_requests())
async def test_operations_endpoints(
    operations: HostileDesk, path: str, request: HealthRequest
) -> None:
    expected = allowed(request) & (documented_statuses("get", path) | {200, NOT_ALLOWED})
    status, body = await operations.checked(
        path,
        lambda: send_health(operations.desk, path, request),
        expected,
        stores_on_success=False,  # nothing here stores anything
    )
    assert_documented(path, request, status, body)
