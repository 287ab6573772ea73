"""ZendeskTicketing's webhook side: the stand-in's signed trigger deliveries, parsed."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from integrations.http import HttpClient
from integrations.ticketing.protocol import (
    TicketEvent,
    TicketEventKind,
    TicketStatus,
    WebhookRefused,
)
from integrations.ticketing.zendesk import ZendeskTicketing
from integrations.ticketing.zendesk_format import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WEBHOOK_EVENTS,
    webhook_signature,
    webhook_template,
)
from tests.support.zendesk_fixtures import (  # noqa: F401 - pytest fixtures
    KEY,
    NOW,
    deliver,
    http_fixture,
    new_ticket,
    standin_fixture,
    zendesk_fixture,
)
from tests.support.zendesk_standin import ZendeskStandIn
from tests.support.zendesk_standin_state import iso


@pytest.fixture
async def receiver(
    standin: ZendeskStandIn, zendesk: ZendeskTicketing
) -> AsyncIterator[list[TicketEvent]]:
    """deskhand's side: parse each delivery, answer 200 or the refusal's status."""
    events: list[TicketEvent] = []

    async def handle(request: web.Request) -> web.Response:
        try:
            got = zendesk.parse_webhook(request.headers, await request.read(), now=NOW)
        except WebhookRefused as exc:
            return web.json_response({"code": exc.code}, status=exc.status)
        events.extend(got)
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/webhooks/tickets/zendesk", handle)
    server = TestServer(app)
    await server.start_server()
    standin.webhook_url = str(server.make_url("/webhooks/tickets/zendesk"))
    yield events
    await server.close()


async def test_agent_actions_arrive_as_events(
    standin: ZendeskStandIn, zendesk: ZendeskTicketing, receiver: list[TicketEvent]
) -> None:
    standin.add_agent("bo@example.com", "Bo")
    ref = await zendesk.create_ticket(new_ticket(), idempotency_key=KEY)
    assert await standin.agent_comment(ref.id, 'Hi "Ann"', author_email="bo@example.com") == 200
    await standin.agent_comment(ref.id, "note", public=False, author_email="bo@example.com")
    await standin.agent_assign(ref.id, "bo@example.com")
    await standin.agent_assign(ref.id, None)
    await standin.agent_solve(ref.id)
    kinds = [(e.kind, e.from_deskhand) for e in receiver]
    assert kinds == [
        (TicketEventKind.COMMENT, False),
        (TicketEventKind.COMMENT, False),
        (TicketEventKind.ASSIGNED, False),
        (TicketEventKind.UNASSIGNED, False),
        (TicketEventKind.STATUS, False),
    ]
    public, internal, assigned, _, solved = receiver
    assert (public.body, public.public, public.author_email) == ('Hi "Ann"', True, "bo@example.com")
    assert (internal.body, internal.public) == ("note", False)
    assert assigned.assignee_email == "bo@example.com" and solved.status is TicketStatus.SOLVED
    assert all(e.ticket_id == ref.id and e.system == "zendesk" for e in receiver)
    assert len({e.event_id for e in receiver}) == 5


async def test_deskhands_own_changes_are_marked(
    standin: ZendeskStandIn, zendesk: ZendeskTicketing
) -> None:
    ref = await zendesk.create_ticket(new_ticket(), idempotency_key=KEY)
    await zendesk.add_comment(ref.id, "from slack", public=True, author=None, idempotency_key="c")
    (event,) = deliver(zendesk, standin, "comment", ref.id)
    assert (event.body, event.from_deskhand) == ("from slack", True)
    me = str(standin.state.api_user["id"])
    assert deliver(zendesk, standin, "status", ref.id, updater_id=me, updater_email="x@y")[
        0
    ].from_deskhand
    # Before the API user's id is known, its e-mail is enough.
    fresh = ZendeskTicketing(zendesk._http, **standin.client_kwargs())
    assert deliver(fresh, standin, "comment", ref.id)[0].from_deskhand


async def test_event_ids_are_stable_per_change(
    standin: ZendeskStandIn, zendesk: ZendeskTicketing
) -> None:
    ref = await zendesk.create_ticket(new_ticket(), idempotency_key=KEY)
    first = deliver(zendesk, standin, "comment", ref.id)
    again = deliver(zendesk, standin, "comment", ref.id, now=NOW + 5)
    assert first[0].event_id == again[0].event_id
    await standin.agent_comment(ref.id, "next", author_email="bo@example.com")
    later = deliver(zendesk, standin, "comment", ref.id)
    assert later[0].event_id != first[0].event_id


@pytest.mark.parametrize(
    ("kind", "change", "code"),
    [
        ("status", {"secret": "other"}, "invalid_signature"),
        ("status", {"signature": "AAAA"}, "invalid_signature"),
        ("status", {"timestamp": NOW - 301}, "stale_timestamp"),
        ("status", {"timestamp": NOW + 301}, "stale_timestamp"),
        ("status", {"timestamp": "yesterday"}, "invalid_timestamp"),
        # Signed correctly over a timestamp that is not one: still refused, never a crash.
        ("status", {"timestamp": "--5"}, "invalid_timestamp"),
        ("status", {"timestamp": "\u00b2"}, "invalid_timestamp"),
        ("status", {"timestamp": "9" * 5000}, "invalid_timestamp"),
        ("status", {"timestamp": "2026-13-45T99:00:00Z"}, "invalid_timestamp"),
        ("status", {"signature": "\u00e9" * 44}, "invalid_signature"),
        ("status", {"signature": "AAAA\udcff"}, "invalid_signature"),
        ("status", {"status": "Offen"}, "unknown_status"),
        ("comment", {"comment_id": ""}, "invalid_payload"),
    ],
)
async def test_refused_webhooks(
    standin: ZendeskStandIn,
    zendesk: ZendeskTicketing,
    kind: str,
    change: dict[str, Any],
    code: str,
) -> None:
    ref = await zendesk.create_ticket(new_ticket(), idempotency_key=KEY)
    assert deliver(zendesk, standin, kind, ref.id)  # unchanged, it is accepted
    with pytest.raises(WebhookRefused) as caught:
        deliver(zendesk, standin, kind, ref.id, **change)
    assert caught.value.code == code


def test_refused_without_secret_headers_or_json(standin: ZendeskStandIn) -> None:
    http = HttpClient()
    unset = ZendeskTicketing(http, **{**standin.client_kwargs(), "webhook_secret": None})
    with pytest.raises(WebhookRefused, match="secret"):
        unset.parse_webhook({}, b"{}", now=NOW)
    zendesk = ZendeskTicketing(http, **standin.client_kwargs())
    with pytest.raises(WebhookRefused, match="missing"):
        zendesk.parse_webhook({}, b"{}", now=NOW)
    stamp = iso(NOW)
    for body, code in ((b"{not json", "invalid_json"), (b'{"ticket_id": "1"}', "unknown_event")):
        headers = {  # lower-case names, as some servers hand them over
            TIMESTAMP_HEADER.lower(): stamp,
            SIGNATURE_HEADER.lower(): webhook_signature("whsec", stamp, body),
        }
        with pytest.raises(WebhookRefused) as caught:
            zendesk.parse_webhook(headers, body, now=NOW)
        assert caught.value.code == code


def test_docs_carry_the_exact_trigger_bodies() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "zendesk.md").read_text()
    blocks = re.findall(r"```json\n(.*?)\n```", doc, flags=re.DOTALL)
    for event in WEBHOOK_EVENTS:
        assert webhook_template(event) in blocks
