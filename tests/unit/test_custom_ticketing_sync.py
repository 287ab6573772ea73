"""Two-way sync with a custom ticketing system: the change feed (polling) and the signed
webhooks, against the stand-in built from docs/custom-ticketing.openapi.yaml."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer
from openapi_schema_validator import OAS30Validator, oas30_format_checker

from integrations.ticketing.custom import CustomTicketing
from integrations.ticketing.custom_format import signature
from integrations.ticketing.protocol import (
    Assignee,
    NewTicket,
    Requester,
    TicketEvent,
    TicketEventKind,
    TicketPriority,
    TicketStatus,
    WebhookRefused,
)
from tests.support.custom_standin import CustomStandIn
from tests.support.custom_standin_state import iso
from tests.support.scripted_http import MakeClient

CONTRACT = Path(__file__).resolve().parents[2] / "docs" / "custom-ticketing.openapi.yaml"
FROZEN = datetime(2025, 3, 14, 9, 30, 0, tzinfo=UTC)
NOW = FROZEN.timestamp()
AGENT = "grace@example.com"
TICKET = NewTicket(
    handoff_id="sess-42:esc-1",
    reference="DH-1042",
    external_conversation_id="sess-42",
    subject="Charged twice",
    summary="Charged twice.",
    reason="no_evidence",
    priority=TicketPriority.HIGH,
    requester=Requester(external_id="c-9"),
)


@dataclass
class Receiver:
    """deskhand's webhook endpoint, reduced to recording what arrives."""

    deliveries: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.deliveries.append((dict(request.headers), await request.read()))
        return web.json_response({"ok": True})


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    app = web.Application()
    app.router.add_post("/webhooks/tickets/custom", found.handle)
    server = TestServer(app)
    await server.start_server()
    found.url = str(server.make_url("/webhooks/tickets/custom"))
    yield found
    await server.close()


@pytest.fixture
async def standin(receiver: Receiver) -> AsyncIterator[CustomStandIn]:
    server = CustomStandIn(webhook_url=receiver.url, webhook_secret="whsec")
    server.clock = lambda: FROZEN  # every event shares one timestamp
    await server.start()
    server.add_agent(AGENT, "Grace")
    yield server
    await server.stop()


@pytest.fixture
async def custom(standin: CustomStandIn, make_client: MakeClient) -> CustomTicketing:
    http = await make_client(timeout=2.0, max_attempts=3, backoff_base=0.01)
    return CustomTicketing(http, url=standin.url, token=standin.token, webhook_secret="whsec")


def schema(name: str) -> OAS30Validator:
    components = yaml.safe_load(CONTRACT.read_text(encoding="utf-8"))["components"]
    root = {"$ref": f"#/components/schemas/{name}", "components": components}
    return OAS30Validator(root, format_checker=oas30_format_checker)


async def poll_all(
    custom: CustomTicketing, cursor: str | None, limit: int
) -> tuple[list[TicketEvent], str | None]:
    seen: list[TicketEvent] = []
    while True:
        page = await custom.changes_since(cursor, limit=limit)
        seen += page.events
        if page.cursor is None:
            return seen, cursor
        cursor = page.cursor


async def test_polling_pages_through_equal_timestamps_without_misses_or_repeats(
    custom: CustomTicketing, standin: CustomStandIn
) -> None:
    ref = await custom.create_ticket(TICKET, idempotency_key="key-1")
    for n in range(7):
        await standin.agent_comment(ref.id, f"comment {n}", author_email=AGENT)

    first, cursor = await poll_all(custom, None, limit=3)
    assert [e.body for e in first] == [f"comment {n}" for n in range(7)]
    assert {e.at for e in first} == {FROZEN}
    # More changes in the same second as the cursor: the next poll sees exactly those.
    await standin.agent_assign(ref.id, AGENT)
    await standin.agent_solve(ref.id)
    later, cursor = await poll_all(custom, cursor, limit=3)
    assert [e.kind for e in later] == [TicketEventKind.ASSIGNED, TicketEventKind.STATUS]
    assert later[0].assignee_email == AGENT
    assert later[1].status is TicketStatus.SOLVED
    nothing = await custom.changes_since(cursor, limit=3)
    assert (nothing.events, nothing.cursor) == ((), None)

    ids = [e.event_id for e in first + later]
    assert len(set(ids)) == len(ids) == len(standin.events())
    assert all(e.external_conversation_id == "sess-42" and e.ticket_id == ref.id for e in first)
    assert [c.query.get("limit") for c in standin.calls[1:]] == ["3"] * (len(standin.calls) - 1)
    assert standin.violations == []


async def test_the_feed_and_the_webhooks_follow_the_contract(
    custom: CustomTicketing, standin: CustomStandIn, receiver: Receiver
) -> None:
    ref = await custom.create_ticket(TICKET, idempotency_key="key-1")
    await custom.add_comment(ref.id, "note", public=False, author="Bob", idempotency_key="c1")
    await custom.set_status(ref.id, TicketStatus.PENDING)
    await standin.agent_comment(ref.id, "hello", author_email=AGENT)
    await standin.agent_assign(ref.id, AGENT)
    await standin.agent_assign(ref.id, None)
    await standin.flush_webhooks()

    event = schema("TicketEvent")
    assert [list(event.iter_errors(e)) for e in standin.events()] == [[]] * 5
    delivery = schema("WebhookDelivery")
    assert [list(delivery.iter_errors(json.loads(b))) for _, b in receiver.deliveries] == [[]] * 5
    assert standin.violations == []


async def test_a_change_seen_by_webhook_and_then_by_polling_has_one_event_id(
    custom: CustomTicketing, standin: CustomStandIn, receiver: Receiver
) -> None:
    ref = await custom.create_ticket(TICKET, idempotency_key="key-1")

    status = await standin.agent_comment(ref.id, "Is it the Visa?", author_email=AGENT)

    assert status == 200
    [(headers, body)] = receiver.deliveries
    [pushed] = custom.parse_webhook(headers, body, now=NOW)
    assert (pushed.kind, pushed.body, pushed.public) == (
        TicketEventKind.COMMENT,
        "Is it the Visa?",
        True,
    )
    assert (pushed.author_name, pushed.author_email) == ("Grace", AGENT)
    assert (pushed.ticket_id, pushed.external_conversation_id) == (ref.id, "sess-42")
    assert pushed.from_deskhand is False
    polled = await custom.changes_since(None, limit=10)
    assert polled.events == (pushed,)
    assert standin.violations == []


async def test_changes_deskhand_made_come_back_marked(
    custom: CustomTicketing, standin: CustomStandIn, receiver: Receiver
) -> None:
    ref = await custom.create_ticket(TICKET, idempotency_key="key-1")
    await custom.add_comment(ref.id, "on it", public=True, author="Grace", idempotency_key="c1")
    await custom.assign(ref.id, Assignee("U1", "Grace", AGENT))
    await standin.agent_comment(ref.id, "internal", public=False, author_email=AGENT)
    await standin.flush_webhooks()

    pushed = [e for h, b in receiver.deliveries for e in custom.parse_webhook(h, b, now=NOW)]
    polled = (await custom.changes_since(None, limit=10)).events

    assert pushed == list(polled)
    assert [(e.kind, e.from_deskhand) for e in polled] == [
        (TicketEventKind.COMMENT, True),
        (TicketEventKind.ASSIGNED, True),
        (TicketEventKind.COMMENT, False),
    ]
    assert polled[2].public is False
    assert standin.violations == []


@pytest.mark.parametrize(
    ("change", "now", "code"),
    [
        ({"secret": "not-the-secret"}, NOW, "invalid_signature"),
        ({}, NOW + 301, "stale_timestamp"),
        ({}, NOW - 301, "stale_timestamp"),
        ({"drop": "X-Ticketing-Signature"}, NOW, "missing_signature"),
        ({"drop": "X-Ticketing-Timestamp"}, NOW, "missing_signature"),
        ({"tamper": True}, NOW, "invalid_signature"),
        ({"headers": {"X-Ticketing-Timestamp": "soon"}}, NOW, "invalid_timestamp"),
        ({"headers": {"X-Ticketing-Timestamp": "--5"}}, NOW, "invalid_timestamp"),
        ({"headers": {"X-Ticketing-Timestamp": "\u00b2"}}, NOW, "invalid_timestamp"),
        ({"headers": {"X-Ticketing-Signature": "v0=\u00e9"}}, NOW, "invalid_signature"),
    ],
)
async def test_webhook_refusals(
    custom: CustomTicketing, standin: CustomStandIn, change: dict[str, Any], now: float, code: str
) -> None:
    ref = await custom.create_ticket(TICKET, idempotency_key="key-1")
    body, headers = standin.signed_webhook(
        "comment", ref.id, body="hi", author_email=AGENT, secret=change.get("secret", "whsec")
    )
    headers.pop(change.get("drop", ""), None)
    headers.update(change.get("headers", {}))
    if change.get("tamper"):
        body = body.replace(b"hi", b"ho")

    with pytest.raises(WebhookRefused) as refused:
        custom.parse_webhook(headers, body, now=now)

    assert (refused.value.status, refused.value.code) == (401, code)
    # The same delivery, untouched and on time, is accepted.
    fine_body, fine_headers = standin.signed_webhook("comment", ref.id, event_id="evt_x")
    assert [e.event_id for e in custom.parse_webhook(fine_headers, fine_body, now=NOW)] == ["evt_x"]
    assert standin.violations == []


async def test_webhook_without_a_secret_and_unreadable_bodies(
    custom: CustomTicketing, standin: CustomStandIn, make_client: MakeClient
) -> None:
    ref = await custom.create_ticket(TICKET, idempotency_key="key-1")
    body, headers = standin.signed_webhook("status", ref.id, status="solved")
    unconfigured = CustomTicketing(await make_client(), url=standin.url, token=standin.token)

    with pytest.raises(WebhookRefused) as refused:
        unconfigured.parse_webhook(headers, body, now=NOW)
    assert (refused.value.status, refused.value.code) == (401, "webhooks_disabled")

    for raw, code in [(b"not json", "invalid_json"), (b'{"event": {}}', "invalid_payload")]:
        with pytest.raises(WebhookRefused) as refused:
            custom.parse_webhook(resign(standin, raw), raw, now=NOW)
        assert (refused.value.status, refused.value.code) == (422, code)
    event = json.loads(body)["events"][0]
    broken = json.dumps({"events": [{**event, "status": "closed"}]}).encode()
    with pytest.raises(WebhookRefused, match="status"):
        custom.parse_webhook(resign(standin, broken), broken, now=NOW)
    assert standin.violations == []


async def test_webhook_event_kinds_and_unknown_types(
    custom: CustomTicketing, standin: CustomStandIn
) -> None:
    ref = await custom.create_ticket(TICKET, idempotency_key="key-1")
    events = [
        json.loads(standin.signed_webhook(kind, ref.id, **fields)[0])["events"][0]
        for kind, fields in [
            ("assigned", {"assignee_email": AGENT}),
            ("unassigned", {"origin": "deskhand"}),
            ("status", {"status": "pending"}),
        ]
    ]
    newer = {**events[0], "id": "evt_new", "type": "ticket.merged"}  # a later contract's type
    body = json.dumps({"events": [*events, newer]}).encode()

    parsed = custom.parse_webhook(resign(standin, body), body, now=NOW)

    assert [(e.kind, e.from_deskhand) for e in parsed] == [
        (TicketEventKind.ASSIGNED, False),
        (TicketEventKind.UNASSIGNED, True),
        (TicketEventKind.STATUS, False),
    ]
    assert parsed[0].assignee_email == AGENT
    assert parsed[2].status is TicketStatus.PENDING
    assert parsed[0].at == datetime.fromisoformat(iso(FROZEN))
    assert standin.violations == []


def resign(standin: CustomStandIn, body: bytes) -> dict[str, str]:
    """Signature headers for an arbitrary body, as the system would send them."""
    timestamp = str(int(NOW))
    return {
        "X-Ticketing-Timestamp": timestamp,
        "X-Ticketing-Signature": signature(standin.webhook_secret, timestamp, body),
    }
