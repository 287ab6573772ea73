"""The contract's Limits, on both databases: every text field at its documented maximum is
stored, posted and followed by the rest of the flow; one character more is a 422 that
stores nothing; a NUL is stored (and shown) as U+FFFD. Multi-byte characters throughout,
since PostgreSQL counts characters, where SQLite would take anything."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from bot.approvals.actions import ApprovalAction, ApprovalBlock, ApprovalModal
from storage.models import Approval, Handoff, HandoffMessage, OutboxRow, Ticket, TicketComment
from tests.support.approvals_e2e import APPROVER, approval_desk, refund_request
from tests.support.harness import Harness
from tests.support.harness_data import handoff_payload
from tests.support.openapi_doc import with_value
from tests.support.ticketing_e2e import ticketing_desk
from tests.support.zendesk_standin import ZendeskStandIn

FFFD = "\ufffd"
HID = "limits:" + "x" * 193  # a handoff_id of exactly 200 characters
MID = "m" * 200  # and a message_id of 200: the keys composed of both must still fit
LOCALE = "en-" + "-".join(["abcdefgh"] * 3) + "-abcde"  # 35 characters
URL = "https://example.com/" + "u" * (2048 - len("https://example.com/"))


def at_the_limits() -> dict[str, Any]:
    return handoff_payload(
        handoff_id=HID,
        session_id="会" * 200,
        customer={"id": "😀" * 200, "name": "名" * 400, "email": "é" * 320},
        summary="要" * 5000,
        intent="意" * 1000,
        department="部" * 200,
        transcript=[{"role": "customer", "text": "話" * 20000}],
        evidence=[{"title": "証" * 1000, "url": URL, "score": 1}],
        suggested_questions=["問" * 1000] * 20,
        locale=LOCALE,
    )


async def rows(desk: Harness, model: Any) -> list[Any]:
    async with desk.app.db.reads() as uow:
        return list(await uow.session.scalars(select(model)))


def text_of(message: Any) -> str:
    return json.dumps(message, ensure_ascii=False)


async def test_every_field_at_its_maximum_is_stored_posted_and_followed(desk: Harness) -> None:
    payload = at_the_limits()
    status, body = await desk.webhook("/webhooks/handoffs", payload)
    assert status == 202, body
    await desk.settle()
    stored = await desk.stored_handoff(HID)
    assert stored is not None
    assert (stored.session_id, stored.customer_id) == (payload["session_id"], "😀" * 200)
    assert (stored.customer_name, stored.customer_email) == ("名" * 400, "é" * 320)
    assert (stored.summary, stored.intent, stored.department) == (
        payload["summary"],
        payload["intent"],
        payload["department"],
    )
    assert stored.transcript[0]["text"] == "話" * 20000
    assert stored.evidence[0]["title"] == "証" * 1000 and stored.evidence[0]["url"] == URL
    assert stored.suggested_questions == ["問" * 1000] * 20 and stored.locale == LOCALE
    assert "要要要" in text_of(desk.posted_message(HID))

    # The customer's name (400) is copied into each of their messages: it must fit there.
    status, body = await desk.customer_message(HID, MID, "返" * 20000)
    assert status == 202, body
    await desk.settle()
    assert "返返返" in text_of(desk.thread(HID))
    (message,) = await rows(desk, HandoffMessage)
    assert (message.text, message.author_name) == ("返" * 20000, "名" * 400)
    assert (await desk.customer_message(HID, MID, "返" * 20000))[0] == 200

    assert await desk.click("handoff_claim", HID) == 200
    await desk.thread_reply("答" * 3000, handoff_id=HID)
    await desk.settle()
    assert [m["text"] for m in desk.chatbot.of_type("agent_message", handoff_id=HID)] == [
        "答" * 3000
    ]
    assert await desk.click("handoff_resolve", HID) == 200
    await desk.settle()
    resolved = await desk.stored_handoff(HID)
    assert resolved is not None and resolved.status == "resolved"
    (ticket,) = await rows(desk, Ticket)
    assert ticket.requester_email == "é" * 320
    comments = [c.body for c in await rows(desk, TicketComment)]
    assert "返" * 20000 in comments and "答" * 3000 in comments
    assert all(len(r.idempotency_key) <= 255 for r in await rows(desk, OutboxRow))
    assert await desk.due_rows() == 0 and not [
        r for r in await rows(desk, OutboxRow) if r.status == "dead"
    ]


OVER = [
    ("handoff_id", "h" * 201),
    ("session_id", "会" * 201),
    ("customer", {"id": "😀" * 201}),
    ("customer", {"id": "c", "name": "名" * 401}),
    ("customer", {"id": "c", "email": "é" * 321}),
    ("summary", "要" * 5001),
    ("intent", "意" * 1001),
    ("department", "部" * 201),
    ("transcript", [{"role": "bot", "text": "話" * 20001}]),
    ("evidence", [{"title": "証" * 1001}]),
    ("evidence", [{"title": "t", "url": URL + "u"}]),
    ("suggested_questions", ["問" * 1001]),
    ("locale", LOCALE + "x"),
]


async def test_one_character_over_any_maximum_is_a_422_that_stores_nothing(desk: Harness) -> None:
    for path, value in OVER:
        status, body = await desk.webhook(
            "/webhooks/handoffs", with_value(at_the_limits(), path, value)
        )
        assert status == 422, (path, body)
        assert body["error"]["code"] == "invalid_payload", path
    assert await desk.count(Handoff) == 0 and await desk.count(OutboxRow) == 0

    assert (await desk.handoff())[0] == 202
    for message_id, text in (("m" * 201, "hi"), ("m-1", "返" * 20001), ("m-1", "")):
        status, body = await desk.customer_message("sess-42:esc-1", message_id, text)
        assert (status, body["error"]["code"]) == (422, "invalid_payload")
    # A path id no handoff can have: unknown, not a database error.
    status, body = await desk.customer_message("h" * 201, "m-1", "hi")
    assert (status, body["error"]["code"]) == (404, "not_found")
    assert await desk.count(HandoffMessage) == 0


def with_nul(text: str) -> str:
    return f"{text}\x00{text}"


async def test_a_nul_in_any_text_is_stored_and_posted_as_u_fffd(desk: Harness) -> None:
    payload = handoff_payload(
        session_id=with_nul("s"),
        customer={"id": with_nul("c"), "name": with_nul("Ada"), "email": with_nul("a@x")},
        summary=with_nul("sum"),
        intent=with_nul("int"),
        department=with_nul("dep"),
        transcript=[{"role": "customer", "text": with_nul("turn")}],
        evidence=[{"title": with_nul("ev")}],
        suggested_questions=[with_nul("q")],
    )
    status, body = await desk.webhook("/webhooks/handoffs", payload)
    assert status == 202, body
    await desk.settle()
    stored = await desk.stored_handoff()
    assert stored is not None
    texts = [
        stored.session_id,
        stored.customer_id,
        stored.customer_name,
        stored.customer_email,
        stored.summary,
        stored.intent,
        stored.department,
        stored.transcript[0]["text"],
        stored.evidence[0]["title"],
        stored.suggested_questions[0],
    ]
    assert texts == [
        f"s{FFFD}s",
        f"c{FFFD}c",
        f"Ada{FFFD}Ada",
        f"a@x{FFFD}a@x",
        f"sum{FFFD}sum",
        f"int{FFFD}int",
        f"dep{FFFD}dep",
        f"turn{FFFD}turn",
        f"ev{FFFD}ev",
        f"q{FFFD}q",
    ]
    posted = text_of(desk.posted_message())
    assert f"sum{FFFD}sum" in posted and "\\u0000" not in posted and "\x00" not in posted

    assert (await desk.customer_message("sess-42:esc-1", "m-1", with_nul("hi")))[0] == 202
    assert await desk.click("handoff_claim") == 200
    await desk.thread_reply(with_nul("reply"))
    await desk.settle()
    assert sorted(m.text for m in await rows(desk, HandoffMessage)) == [
        f"hi{FFFD}hi",
        f"reply{FFFD}reply",
    ]
    assert f"hi{FFFD}hi" in text_of(desk.thread())
    sent = desk.chatbot.of_type("agent_message", handoff_id="sess-42:esc-1")
    assert [m["text"] for m in sent] == [f"reply{FFFD}reply"]


async def test_a_nul_in_an_approval_and_its_rejection_is_stored_as_u_fffd(
    database_url: str,
) -> None:
    async with approval_desk(database_url) as h:
        request = refund_request(
            requested_by=with_nul("agent"),
            customer={"id": with_nul("c"), "email": with_nul("a@x")},
            justification=with_nul("twice"),
        )
        assert (await h.ask(**request))[0] == 202
        await h.desk.settle()
        assert f"twice{FFFD}twice" in text_of(h.message())
        assert await h.click(ApprovalAction.REJECT, APPROVER) == 200
        answer = await h.submit(
            ApprovalModal.REJECT, APPROVER, {ApprovalBlock.REASON: with_nul("no")}
        )
        assert answer == {}
        await h.desk.settle()
        (approval,) = await rows(h.desk, Approval)
        assert (approval.requested_by, approval.customer_id, approval.customer_email) == (
            f"agent{FFFD}agent",
            f"c{FFFD}c",
            f"a@x{FFFD}a@x",
        )
        assert approval.justification == f"twice{FFFD}twice"
        assert approval.decision_reason == f"no{FFFD}no"


async def test_a_ticket_solved_in_zendesk_by_a_long_e_mail_resolves_its_handoff(
    database_url: str,
) -> None:
    email = "a" * 64 + "@" + "support-" * 8 + "example.com"  # 140 characters
    async with ticketing_desk("zendesk", database_url) as t:
        zendesk, desk = t.remote, t.desk
        assert isinstance(zendesk, ZendeskStandIn)
        assert (await desk.handoff())[0] == 202
        await desk.settle()
        handoff = await desk.stored_handoff()
        assert handoff is not None and handoff.ticket_id
        agent_id = zendesk.add_agent(email, "名" * 300)
        assert await zendesk.agent_comment(handoff.ticket_id, "On it.", author_email=email) == 200
        ticket = zendesk.state.tickets[int(handoff.ticket_id)]  # solved by that agent
        ticket.status = "solved"
        zendesk.state.touch(ticket)
        body, headers = zendesk.signed_webhook(
            "status", handoff.ticket_id, updater_id=agent_id, updater_email=email
        )
        async with desk.http.post(
            desk.url("/webhooks/tickets/zendesk"), data=body, headers=headers
        ) as response:
            assert response.status == 200, await response.text()
        await desk.settle()
        resolved = await desk.stored_handoff()
        assert resolved is not None and resolved.status == "resolved"
        assert resolved.resolved_by == f"zendesk:{email}"
        assert [s["status"] for s in t.statuses(handoff.handoff_id)].count("resolved") == 1
        agent_messages = desk.chatbot.of_type("agent_message", handoff_id=handoff.handoff_id)
        assert [m["text"] for m in agent_messages] == ["On it."]
