"""Hostile input against deskhand's own signed webhooks, on both databases.

Each test keeps one running app for all its generated requests. The requests are validly
signed (so they reach parsing, validation and storage) unless a header mutation breaks the
signature on purpose. Bodies come from docs/openapi.yaml with a verdict (tests/support/
hostile_schema.py): what the document accepts must be accepted (202, or 200 for a repeat)
and read back as sent (NUL as U+FFFD); what it refuses must be a 422; raw garbage must be a
documented 4xx. On top, for every request (tests/support/hostile_client.py): no 5xx, a
refusal is the contract's JSON error, a refusal stores nothing, nothing logged at error
level. Afterwards the app is healthy and takes a normal handoff.

``DESKHAND_HOSTILE_EXAMPLES`` raises the number of requests (bench/hostile_soak.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storage.models import Approval, HandoffMessage
from tests.support.approvals_e2e import approval_desk
from tests.support.hostile_checks import HOSTILE_TIMEOUT, documented_statuses, hostile_settings
from tests.support.hostile_client import DESKHAND_HEADER_MUTATIONS, HostileDesk, hostile_desk
from tests.support.hostile_schema import INVALID, VALID, Drawn, payloads
from tests.support.hostile_text import (
    CONTENT_TYPES,
    MIB,
    as_stored,
    encode,
    hostile_json_body,
    hostile_text,
)

BASE_HANDOFF = "hostile-base:1"
HANDOFFS = "/webhooks/handoffs"
MESSAGES = "/webhooks/handoffs/{handoff_id}/messages"
APPROVALS = "/webhooks/approvals"
POLL = "/api/approvals/{request_id}"
ACCEPTED = {200, 202}


def quoted(path_id: str) -> str:
    """``path_id`` percent-encoded as one path segment (lone surrogates included)."""
    return quote(path_id.encode("utf-8", "surrogatepass"), safe="") or "x"


@pytest.fixture
async def hostile(database_url: str) -> AsyncIterator[HostileDesk]:
    async with approval_desk(database_url) as approvals:
        desk = approvals.desk
        status, _ = await desk.handoff(handoff_id=BASE_HANDOFF)
        assert status == 202
        await desk.settle()
        async with hostile_desk(desk, database_url, approvals) as client:
            client.accepted[BASE_HANDOFF] = "(the base handoff)"
            yield client


# A request: the body (drawn from the schema, or raw), its Content-Type, a header mutation.
@st.composite
def requests(draw: st.DrawFn, schema: str) -> tuple[Drawn | None, bytes, str | None, str | None]:
    drawn: Drawn | None = None
    if draw(st.integers(0, 4)) == 0:
        raw = draw(hostile_json_body())
    else:
        drawn = draw(payloads(schema))
        raw = encode(drawn.value)
    content_type, _ = draw(st.sampled_from(CONTENT_TYPES[:3]) | st.sampled_from(CONTENT_TYPES))
    mutation = draw(
        st.none() | st.none() | st.none() | st.sampled_from(sorted(DESKHAND_HEADER_MUTATIONS))
    )
    return drawn, raw, content_type, mutation


def expected(
    drawn: Drawn | None, raw: bytes, content_type: str | None, mutation: str | None, seen: bool
) -> set[int]:
    """What the contract lets deskhand answer, checked cheapest first as deskhand does."""
    if len(raw) > MIB:
        return {413}
    if mutation is not None:
        return {401}
    if dict(CONTENT_TYPES)[content_type] is False:
        return {415}
    if drawn is None or drawn.verdict == INVALID:
        return {422}
    accepted = {200} if seen else {202}
    return accepted if drawn.verdict == VALID else accepted | {422}


def signed(
    client: HostileDesk, raw: bytes, content_type: str | None, mutation: str | None
) -> dict[str, str]:
    headers = client.signed(raw, content_type)
    return DESKHAND_HEADER_MUTATIONS[mutation](headers) if mutation else headers


@pytest.mark.timeout(HOSTILE_TIMEOUT)
@hostile_settings(examples=200)
@given(request=requests("Handoff"))
async def test_handoff_webhook(
    hostile: HostileDesk, request: tuple[Drawn | None, bytes, str | None, str | None]
) -> None:
    drawn, raw, content_type, mutation = request
    payload = drawn.value if drawn is not None else None
    handoff_id = payload.get("handoff_id") if isinstance(payload, dict) else None
    seen = isinstance(handoff_id, str) and handoff_id in hostile.accepted
    allowed = expected(drawn, raw, content_type, mutation, seen)
    allowed &= documented_statuses("post", HANDOFFS) | ACCEPTED
    status, body = await hostile.exchange(
        HANDOFFS, "POST", HANDOFFS, raw, signed(hostile, raw, content_type, mutation), allowed
    )
    if status not in ACCEPTED:
        return
    assert isinstance(payload, dict) and isinstance(handoff_id, str)
    if status == 200:
        assert body == hostile.accepted[handoff_id]
        return
    hostile.accepted[handoff_id] = body
    assert body["handoff_id"] == handoff_id and body["status"] == "queued"
    stored = await hostile.desk.stored_handoff(handoff_id)
    assert stored is not None
    assert stored.summary == as_stored(payload["summary"])
    assert stored.session_id == as_stored(payload["session_id"])
    assert stored.customer_id == as_stored(payload["customer"]["id"])
    for field in ("name", "email"):
        if isinstance(payload["customer"].get(field), str):
            assert getattr(stored, f"customer_{field}") == as_stored(payload["customer"][field])
    for field in ("intent", "department"):
        if isinstance(payload.get(field), str):
            assert getattr(stored, field) == as_stored(payload[field])
    await hostile.desk.settle()
    assert hostile.desk.posted_message(handoff_id) is not None


def message_paths() -> st.SearchStrategy[tuple[str, bool]]:
    """(path, whether it names the base handoff)."""
    known = st.just((MESSAGES.format(handoff_id=BASE_HANDOFF), True))
    encoded = st.just((MESSAGES.format(handoff_id=quoted(BASE_HANDOFF)), True))
    unknown = (st.from_regex(r"^[A-Za-z0-9:_.-]{1,250}$", fullmatch=True) | hostile_text(30)).map(
        lambda h: (MESSAGES.format(handoff_id=quoted(h)), h == BASE_HANDOFF)
    )
    return st.one_of(known, known, encoded, unknown)


@pytest.mark.timeout(HOSTILE_TIMEOUT)
@hostile_settings(examples=200)
@given(request=requests("CustomerMessage"), where=message_paths())
async def test_customer_message_webhook(
    hostile: HostileDesk,
    request: tuple[Drawn | None, bytes, str | None, str | None],
    where: tuple[str, bool],
) -> None:
    drawn, raw, content_type, mutation = request
    path, known = where
    payload = drawn.value if drawn is not None else None
    message_id = payload.get("message_id") if isinstance(payload, dict) else None
    seen = isinstance(message_id, str) and message_id in hostile.accepted
    allowed = expected(drawn, raw, content_type, mutation, seen)
    if not known:  # an unknown handoff, or a path no route matches
        allowed = (allowed - ACCEPTED) | {404}
    allowed &= documented_statuses("post", MESSAGES) | ACCEPTED
    headers = signed(hostile, raw, content_type, mutation)
    status, body = await hostile.exchange(MESSAGES, "POST", path, raw, headers, allowed)
    if status not in ACCEPTED:
        return
    assert isinstance(payload, dict) and isinstance(message_id, str)
    if status == 200:
        assert body == hostile.accepted[message_id]
        return
    hostile.accepted[message_id] = body
    assert body["message_id"] == message_id and body["handoff_id"] == BASE_HANDOFF
    stored = await _customer_message(hostile, message_id)
    assert stored is not None and stored.text == as_stored(payload["text"])
    await hostile.desk.settle()


async def _customer_message(hostile: HostileDesk, message_id: str) -> HandoffMessage | None:
    async with hostile.desk.app.db.uow() as uow:
        handoff = await uow.handoffs.get(BASE_HANDOFF)
        assert handoff is not None
        messages = await uow.handoffs.messages(handoff.id)
    return next((m for m in messages if m.external_id == message_id), None)


@pytest.mark.timeout(HOSTILE_TIMEOUT)
@hostile_settings(examples=200)
@given(request=requests("ApprovalRequest"))
async def test_approval_webhook(
    hostile: HostileDesk, request: tuple[Drawn | None, bytes, str | None, str | None]
) -> None:
    drawn, raw, content_type, mutation = request
    payload = drawn.value if drawn is not None else None
    request_id = payload.get("request_id") if isinstance(payload, dict) else None
    seen = isinstance(request_id, str) and request_id in hostile.accepted
    allowed = expected(drawn, raw, content_type, mutation, seen)
    if seen and allowed & ACCEPTED:
        allowed |= {409}  # the same request_id with other content
    allowed &= documented_statuses("post", APPROVALS) | ACCEPTED
    headers = signed(hostile, raw, content_type, mutation)
    status, body = await hostile.exchange(APPROVALS, "POST", APPROVALS, raw, headers, allowed)
    if status not in ACCEPTED:
        return
    assert isinstance(payload, dict) and isinstance(request_id, str)
    assert body["request_id"] == request_id
    if status == 200:
        return
    hostile.accepted[request_id] = body
    assert body["status"] == "pending"
    async with hostile.desk.app.db.uow() as uow:
        stored: Approval | None = await uow.approvals.get(request_id)
    assert stored is not None
    assert stored.justification == as_stored(payload["justification"])
    assert stored.requested_by == as_stored(payload["requested_by"])
    assert stored.amount_minor == payload["params"]["amount_minor"]
    polled, answer = await _poll(hostile, quoted(request_id))
    assert (polled, answer["status"]) == (200, "pending")
    await hostile.desk.settle()


async def _poll(
    hostile: HostileDesk, encoded_id: str, mutation: str | None = None
) -> tuple[int, Any]:
    headers = signed(hostile, b"", None, mutation)
    path = POLL.format(request_id=encoded_id)
    return await hostile.send("GET", path, None, headers)


@pytest.mark.timeout(HOSTILE_TIMEOUT)
@hostile_settings(examples=100)
@given(
    request_id=st.sampled_from(["apr-known", "apr-unknown"])
    | st.from_regex(r"^[A-Za-z0-9:_.-]{1,250}$", fullmatch=True)
    | hostile_text(30),
    mutation=st.none() | st.sampled_from(sorted(DESKHAND_HEADER_MUTATIONS)),
)
async def test_approval_poll(hostile: HostileDesk, request_id: str, mutation: str | None) -> None:
    if "apr-known" not in hostile.accepted:
        assert hostile.approvals is not None
        status, body = await hostile.approvals.ask(request_id="apr-known")
        assert status == 202, body
        hostile.accepted["apr-known"] = body
        await hostile.desk.settle()
    known = request_id == "apr-known"
    allowed = {401} if mutation else {200}
    if not known:  # an unknown request, or a path no route matches
        allowed = (allowed - {200}) | {404}
    headers = signed(hostile, b"", None, mutation)
    path = POLL.format(request_id=quoted(request_id))
    allowed &= documented_statuses("get", POLL) | {200}
    status, body = await hostile.exchange(POLL, "GET", path, None, headers, allowed)
    if status == 200:
        assert body["request_id"] == request_id and body["status"] == "pending"
