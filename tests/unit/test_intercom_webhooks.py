"""Intercom webhooks: the stand-in's signed notifications, normalised by IntercomTicketing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from integrations.ticketing.intercom import IntercomTicketing
from integrations.ticketing.protocol import (
    Assignee,
    TicketEvent,
    TicketEventKind,
    TicketStatus,
    WebhookRefused,
)
from tests.support.intercom_fixtures import connect, intercom, new_ticket, standin
from tests.support.intercom_standin import IntercomStandIn

__all__ = ["connect", "intercom", "standin"]  # fixtures used by name

AGENT = "ana@support.example"
NOW = 1_900_000_000.0


@pytest.fixture
async def ticket_id(intercom: IntercomTicketing, standin: IntercomStandIn) -> str:
    standin.add_agent(AGENT, "Ana Agent")
    await intercom.prepare()  # its admin and the admins' emails, as at start-up
    return (await intercom.create_ticket(new_ticket(), idempotency_key="k")).id


def parse(intercom: IntercomTicketing, signed: tuple[bytes, dict[str, str]]) -> list[TicketEvent]:
    body, headers = signed
    return intercom.parse_webhook(headers, body, now=NOW)


async def test_an_agents_reply_and_note(
    intercom: IntercomTicketing, standin: IntercomStandIn, ticket_id: str
) -> None:
    reply = standin.signed_webhook("comment", ticket_id, body="Refunded.\nBye", author_email=AGENT)
    note = standin.signed_webhook(
        "comment", ticket_id, body="VIP", public=False, author_email=AGENT
    )

    [comment] = parse(intercom, reply)
    assert (comment.kind, comment.body, comment.public) == (
        TicketEventKind.COMMENT,
        "Refunded.\nBye",
        True,
    )
    assert (comment.ticket_id, comment.external_conversation_id) == (ticket_id, "session-42")
    assert (comment.author_email, comment.author_name, comment.from_deskhand) == (
        AGENT,
        "Ana Agent",
        False,
    )
    assert comment.at is not None and comment.system == "intercom"
    [internal] = parse(intercom, note)
    assert (internal.body, internal.public) == ("VIP", False)
    assert parse(intercom, reply) == [comment]  # a retried notification: the same event_id
    assert internal.event_id != comment.event_id
    assert standin.ticket(ticket_id).comments == []  # signed_webhook changed nothing


async def test_assignment_unassignment_and_states(
    intercom: IntercomTicketing, standin: IntercomStandIn, ticket_id: str
) -> None:
    [assigned] = parse(intercom, standin.signed_webhook("assign", ticket_id, email=AGENT))
    [unassigned] = parse(intercom, standin.signed_webhook("unassign", ticket_id))
    [solved] = parse(intercom, standin.signed_webhook("solve", ticket_id))
    [pending] = parse(intercom, standin.signed_webhook("status", ticket_id, status="pending"))

    assert (assigned.kind, assigned.assignee_email) == (TicketEventKind.ASSIGNED, AGENT)
    assert unassigned.kind == TicketEventKind.UNASSIGNED
    assert (solved.kind, solved.status) == (TicketEventKind.STATUS, TicketStatus.SOLVED)
    assert pending.status == TicketStatus.PENDING
    assert len({e.event_id for e in (assigned, unassigned, solved, pending)}) == 4


async def test_changes_deskhand_made_come_back_marked(
    intercom: IntercomTicketing, standin: IntercomStandIn, ticket_id: str
) -> None:
    await intercom.add_comment(ticket_id, "On it", public=True, author=None, idempotency_key="c")
    [comment] = parse(intercom, standin.last_webhook())
    await intercom.assign(ticket_id, Assignee("U0ANA", "Ana", AGENT))
    [assigned] = parse(intercom, standin.last_webhook())
    await intercom.set_status(ticket_id, TicketStatus.SOLVED)
    [solved] = parse(intercom, standin.last_webhook())

    assert (comment.body, comment.from_deskhand) == ("On it", True)
    assert (assigned.assignee_email, assigned.from_deskhand) == (AGENT, True)
    assert (solved.status, solved.from_deskhand) == (TicketStatus.SOLVED, True)


async def test_a_ticket_in_a_conversation(
    intercom: IntercomTicketing, standin: IntercomStandIn
) -> None:
    await intercom.prepare()
    part = {
        "id": "9001",
        "part_type": "close",
        "author": {"type": "admin", "id": "5", "name": "Bo"},
    }
    item = {
        "type": "conversation",
        "id": "77",
        "ticket": {"type": "ticket", "id": "633"},
        "conversation_parts": {"conversation_parts": [part]},
    }
    body = json.dumps(notification("conversation.admin.closed", item)).encode()

    [closed] = intercom.parse_webhook(standin.sign(body), body, now=NOW)
    assert (closed.ticket_id, closed.status, closed.event_id) == (
        "633",
        TicketStatus.SOLVED,
        "intercom:633:9001:status",
    )


@pytest.mark.parametrize("topic", ["ping", "ticket.created", "ticket.contact.replied"])
async def test_other_topics_give_no_events(
    intercom: IntercomTicketing, standin: IntercomStandIn, topic: str
) -> None:
    await intercom.prepare()
    body = json.dumps(notification(topic, {"type": "ticket", "id": "1"})).encode()
    assert intercom.parse_webhook(standin.sign(body), body, now=NOW) == []


@pytest.mark.parametrize(
    ("tamper", "status", "code"),
    [
        (lambda b, h: (b + b" ", h), 401, "invalid_signature"),
        (lambda b, h: (b, {"Content-Type": "application/json"}), 401, "missing_signature"),
        (lambda b, h: (b, {"X-Hub-Signature": ""}), 401, "missing_signature"),
        (lambda b, h: (b, {"X-Hub-Signature": "sha1=\u00e9" * 40}), 401, "invalid_signature"),
        (lambda b, h: (b, {"X-Hub-Signature": "sha1=\udcff"}), 401, "invalid_signature"),
        (lambda b, h: (b, h | {"x-hub-signature": "sha1=00"}), 401, "invalid_signature"),
        (lambda b, h: (b, {"x-hub-signature": h["X-Hub-Signature"].upper()}), None, None),
    ],
)
async def test_signatures(
    intercom: IntercomTicketing,
    standin: IntercomStandIn,
    ticket_id: str,
    tamper: Any,
    status: Any,
    code: Any,
) -> None:
    body, headers = tamper(*standin.signed_webhook("solve", ticket_id))
    if status is None:  # header names and hex digits in any case
        assert len(intercom.parse_webhook(headers, body, now=NOW)) == 1
        return
    with pytest.raises(WebhookRefused) as refused:
        intercom.parse_webhook(headers, body, now=NOW)
    assert (refused.value.status, refused.value.code) == (status, code)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"not json", "invalid_json"),
        (b"[" * 100_000, "invalid_json"),
        (b'{"type": "event"}', "invalid_payload"),
        (b"[]", "invalid_payload"),
        (b'{"type": "notification_event", "topic": "ping", "data": "x"}', "invalid_payload"),
    ],
)
async def test_unparseable_bodies_are_refused(
    intercom: IntercomTicketing, standin: IntercomStandIn, body: bytes, code: str
) -> None:
    with pytest.raises(WebhookRefused) as refused:
        intercom.parse_webhook(standin.sign(body), body, now=NOW)
    assert (refused.value.status, refused.value.code) == (422, code)


async def test_refused_without_a_secret_or_before_the_admin_is_known(
    connect: Any, standin: IntercomStandIn
) -> None:
    body = json.dumps(notification("ping", {"type": "ping"})).encode()
    without_secret = await connect(client_secret=None)
    with pytest.raises(WebhookRefused) as refused:
        without_secret.parse_webhook(standin.sign(body), body, now=NOW)
    assert (refused.value.status, refused.value.code) == (401, "webhooks_disabled")

    unprepared = await connect()
    with pytest.raises(WebhookRefused) as refused:
        unprepared.parse_webhook(standin.sign(body), body, now=NOW)
    assert (refused.value.status, refused.value.code) == (503, "not_ready")
    configured = await connect(admin_id=standin.deskhand_admin_id)
    assert configured.parse_webhook(standin.sign(body), body, now=NOW) == []


async def test_delivered_to_the_webhook_url(
    intercom: IntercomTicketing, standin: IntercomStandIn
) -> None:
    seen: list[TicketEvent] = []

    async def receive(request: web.Request) -> web.Response:
        seen.extend(intercom.parse_webhook(request.headers, await request.read(), now=NOW))
        return web.Response(status=204)

    async with serving(receive) as url:
        standin.webhook_url = url
        standin.add_agent(AGENT, "Ana Agent")
        await intercom.prepare()
        ref = await intercom.create_ticket(new_ticket(), idempotency_key="k")
        await intercom.add_comment(ref.id, "Hello", public=True, author=None, idempotency_key="c")
        await standin.settle()  # deskhand's own changes are notified too
        assert await standin.agent_comment(ref.id, "Hi", author_email=AGENT) == 204
        assert await standin.agent_assign(ref.id, AGENT) == 204
        assert await standin.agent_solve(ref.id) == 204

    mine = [(e.kind, e.body) for e in seen if e.from_deskhand]
    theirs = [(e.kind, e.body or e.assignee_email or e.status) for e in seen if not e.from_deskhand]
    assert mine == [(TicketEventKind.COMMENT, "Hello")]
    assert theirs == [
        (TicketEventKind.COMMENT, "Hi"),
        (TicketEventKind.ASSIGNED, AGENT),
        (TicketEventKind.STATUS, TicketStatus.SOLVED),
    ]
    assert standin.ticket(ref.id).status == "solved"


def notification(topic: str, item: dict[str, Any]) -> dict[str, Any]:
    data = {"type": "notification_event_data", "item": item}
    return {
        "type": "notification_event",
        "topic": topic,
        "id": "notif_1",
        "data": data,
        "created_at": 1,
    }


@asynccontextmanager
async def serving(handler: Any) -> AsyncIterator[str]:
    """A local aiohttp server for one handler; its URL inside the ``async with``."""
    app = web.Application()
    app.router.add_post("/webhooks/intercom", handler)
    server = TestServer(app)
    await server.start_server()
    try:
        yield str(server.make_url("/webhooks/intercom"))
    finally:
        await server.close()
