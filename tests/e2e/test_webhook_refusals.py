"""The chatbot's webhooks: every refusal stores nothing, and repeats are harmless."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, signed_headers
from storage.models import Handoff, HandoffMessage, OutboxRow, Ticket
from tests.support.harness import CHANNEL, HANDOFF, WEBHOOK_SECRET, Harness, handoff_payload

HANDOFFS = "/webhooks/handoffs"
HID = HANDOFF["handoff_id"]
MIB = 1024 * 1024


async def _post(
    desk: Harness, path: str, data: Any, headers: dict[str, str]
) -> tuple[int, Any, str]:
    async with desk.http.post(desk.url(path), data=data, headers=headers) as response:
        return response.status, await response.json(content_type=None), response.content_type


def _signed(raw: bytes, desk: Harness, content_type: str = "application/json") -> dict[str, str]:
    now = desk.clock.now().timestamp()
    return {"Content-Type": content_type, **signed_headers(WEBHOOK_SECRET, raw, now=now)}


def _assert_refusal(status: int, body: Any, expected: int, code: str | None = None) -> None:
    assert status == expected, body
    assert isinstance(body, dict) and set(body) == {"error"}
    error = body["error"]
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    assert set(error) <= {"code", "message", "details"}
    if code is not None:
        assert error["code"] == code


async def _rows(desk: Harness) -> tuple[int, int, int]:
    return (
        await desk.count(Handoff),
        await desk.count(OutboxRow),
        await desk.count(HandoffMessage),
    )


def _slack_work(desk: Harness) -> list[str]:
    return [c.method for c in desk.slack.calls if c.method != "auth.test"]


async def _assert_nothing_happened(desk: Harness) -> None:
    assert await _rows(desk) == (0, 0, 0)
    await desk.settle()
    assert _slack_work(desk) == []
    assert desk.chatbot.received == []


async def test_signature_refusals(desk: Harness) -> None:
    raw = json.dumps(handoff_payload()).encode()
    now = desk.clock.now().timestamp()
    cases: list[tuple[dict[str, str], str | None]] = [
        (signed_headers("not-the-secret", raw, now=now), "invalid_signature"),
        (signed_headers(WEBHOOK_SECRET, raw, now=now - 301), "stale_timestamp"),
        (signed_headers(WEBHOOK_SECRET, raw, now=now + 301), "stale_timestamp"),
        ({}, "missing_signature"),
        ({TIMESTAMP_HEADER: str(int(now))}, "missing_signature"),
        ({SIGNATURE_HEADER: signed_headers(WEBHOOK_SECRET, raw, now=now)[SIGNATURE_HEADER]}, None),
        ({TIMESTAMP_HEADER: "yesterday", SIGNATURE_HEADER: "v0=00"}, "invalid_timestamp"),
    ]
    # The body signed, then changed by one byte on the way.
    tampered = signed_headers(WEBHOOK_SECRET, raw, now=now)
    cases.append((tampered, "invalid_signature"))
    for index, (headers, code) in enumerate(cases):
        body = raw.replace(b"Ada", b"Eve") if index == len(cases) - 1 else raw
        sent = {"Content-Type": "application/json", **headers}
        status, answer, content_type = await _post(desk, HANDOFFS, body, sent)
        _assert_refusal(status, answer, 401, code)
        assert content_type == "application/json"
    # Within the allowed skew, the same request is fine: the refusals were about time.
    status, _ = await desk.webhook(HANDOFFS, raw, timestamp=now - 290)
    assert status == 202


async def test_refusals_store_nothing_and_reach_nobody(desk: Harness) -> None:
    good = handoff_payload()
    no_summary = {k: v for k, v in good.items() if k != "summary"}
    no_customer_id = handoff_payload(customer={"name": "Ada"})
    cases: list[tuple[bytes, str, int, str]] = [
        (json.dumps(good).encode(), "text/plain", 415, "unsupported_media_type"),
        (b"handoff_id=x", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        (b"{not json", "application/json", 422, "invalid_json"),
        (b"\xff\xfe{}", "application/json", 422, "invalid_json"),
        (b"", "application/json", 422, "invalid_json"),
        (b"[1, 2, 3]", "application/json", 422, "invalid_payload"),
        (b'"a string"', "application/json", 422, "invalid_payload"),
        (b"null", "application/json", 422, "invalid_payload"),
    ]
    for raw, content_type, expected, code in cases:
        status, answer, _ = await _post(desk, HANDOFFS, raw, _signed(raw, desk, content_type))
        _assert_refusal(status, answer, expected, code)

    invalid: list[tuple[dict[str, Any], str]] = [
        (no_summary, "summary"),
        (no_customer_id, "customer.id"),
        (handoff_payload(reason="angry"), "reason"),
        (handoff_payload(priority="asap"), "priority"),
        (handoff_payload(handoff_id="has spaces/and slashes"), "handoff_id"),
        (handoff_payload(transcript=[{"role": "wizard", "text": "hi"}]), "transcript.0.role"),
        (handoff_payload(evidence=[{"title": "x", "score": 7}]), "evidence.0.score"),
    ]
    for payload, field in invalid:
        raw = json.dumps(payload).encode()
        status, answer, _ = await _post(desk, HANDOFFS, raw, _signed(raw, desk))
        _assert_refusal(status, answer, 422, "invalid_payload")
        assert field in [d["field"] for d in answer["error"]["details"]], answer
    await _assert_nothing_happened(desk)


async def test_oversized_bodies_are_refused(desk: Harness) -> None:
    big = json.dumps(handoff_payload(summary="x" * (MIB + 10))).encode()
    status, answer, _ = await _post(desk, HANDOFFS, big, _signed(big, desk))
    _assert_refusal(status, answer, 413, "payload_too_large")

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(big), 64 * 1024):
            yield big[start : start + 64 * 1024]

    status, answer, _ = await _post(desk, HANDOFFS, chunks(), _signed(big, desk))
    _assert_refusal(status, answer, 413, "payload_too_large")

    # Exactly one MiB is still allowed through the size check (then refused as JSON).
    edge = b" " * MIB
    status, answer, _ = await _post(desk, HANDOFFS, edge, _signed(edge, desk))
    _assert_refusal(status, answer, 422, "invalid_json")
    await _assert_nothing_happened(desk)


async def test_unknown_routes_and_ids_answer_json_404(desk: Harness) -> None:
    status, answer = await desk.webhook("/webhooks/nothing-here", handoff_payload())
    _assert_refusal(status, answer, 404, "not_found")
    async with desk.http.get(desk.url("/no/such/page")) as response:
        _assert_refusal(response.status, await response.json(content_type=None), 404)

    status, answer = await desk.customer_message("sess-404:esc-1", "m-1", "hello?")
    _assert_refusal(status, answer, 404, "not_found")
    await _assert_nothing_happened(desk)


async def test_customer_message_refusals(desk: Harness) -> None:
    await desk.handoff()
    await desk.settle()
    before = await _rows(desk)
    slack_calls = len(desk.slack.calls)
    path = f"/webhooks/handoffs/{HID}/messages"
    message = json.dumps({"message_id": "m-1", "text": "hi"}).encode()
    now = desk.clock.now().timestamp()

    bad_signature = {"Content-Type": "application/json"}
    bad_signature |= signed_headers("wrong", message, now=now)
    status, answer, _ = await _post(desk, path, message, bad_signature)
    _assert_refusal(status, answer, 401, "invalid_signature")
    stale = {"Content-Type": "application/json"}
    stale |= signed_headers(WEBHOOK_SECRET, message, now=now - 600)
    status, answer, _ = await _post(desk, path, message, stale)
    _assert_refusal(status, answer, 401, "stale_timestamp")
    status, answer, _ = await _post(desk, path, message, _signed(message, desk, "text/plain"))
    _assert_refusal(status, answer, 415)
    status, answer, _ = await _post(desk, path, b"{", _signed(b"{", desk))
    _assert_refusal(status, answer, 422, "invalid_json")
    for payload, field in (
        ({"text": "no id"}, "message_id"),
        ({"message_id": "m-2"}, "text"),
        ({"message_id": "m-2", "text": ""}, "text"),
        ({"message_id": "m 2!", "text": "x"}, "message_id"),
    ):
        status, answer = await desk.webhook(path, payload)
        _assert_refusal(status, answer, 422, "invalid_payload")
        assert field in [d["field"] for d in answer["error"]["details"]]
    big = json.dumps({"message_id": "m-3", "text": "y" * (MIB + 1)}).encode()
    status, answer, _ = await _post(desk, path, big, _signed(big, desk))
    _assert_refusal(status, answer, 413)

    await desk.settle()
    assert await _rows(desk) == before
    assert len(desk.slack.calls) == slack_calls


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    raw=st.one_of(
        st.binary(max_size=600),
        st.text(max_size=300).map(str.encode),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=20),
            lambda inner: (
                st.lists(inner, max_size=4)
                | st.dictionaries(st.text(max_size=12), inner, max_size=4)
            ),
            max_leaves=12,
        ).map(lambda value: json.dumps(value).encode()),
    ),
    content_type=st.sampled_from(
        ["application/json", "application/json; charset=utf-8", "text/plain", "", "a/b; c"]
    ),
    sign=st.booleans(),
    path=st.sampled_from([HANDOFFS, f"{HANDOFFS}/{HID}/messages", f"{HANDOFFS}/%00/messages"]),
)
async def test_garbage_never_gets_a_5xx(
    desk: Harness, raw: bytes, content_type: str, sign: bool, path: str
) -> None:
    headers = _signed(raw, desk, content_type)
    if not sign:
        headers[SIGNATURE_HEADER] = "v0=" + "0" * 64
    if not content_type:
        headers.pop("Content-Type")
    async with desk.http.post(desk.url(path), data=raw, headers=headers) as response:
        body = await response.json(content_type=None)
        status = response.status
    assert status in (401, 404, 413, 415, 422), (status, body)
    _assert_refusal(status, body, status)
    assert await _rows(desk) == (0, 0, 0)


async def test_a_repeated_handoff_answers_the_same_and_posts_once(desk: Harness) -> None:
    first_status, first = await desk.handoff()
    await desk.settle()
    second_status, second = await desk.handoff()
    await desk.settle()

    assert (first_status, second_status) == (202, 200)
    assert first == second
    assert len(desk.slack.messages(CHANNEL)) == 1
    assert len(desk.slack.calls_to("chat.postMessage")) == 1
    assert await desk.count(Ticket) == 1
    queued = desk.chatbot.of_type("handoff_status", status="queued")
    assert len([q for q in queued if "id" not in q.get("ticket", {})]) == 1
    assert len([q for q in queued if "id" in q.get("ticket", {})]) == 1


async def test_concurrent_duplicate_deliveries_make_one_handoff(desk: Harness) -> None:
    answers = await asyncio.gather(*(desk.handoff() for _ in range(5)))
    await desk.settle()

    statuses = sorted(status for status, _ in answers)
    assert statuses == [200, 200, 200, 200, 202]
    assert len({json.dumps(body, sort_keys=True) for _, body in answers}) == 1
    assert await desk.count(Handoff) == 1
    assert len(desk.slack.messages(CHANNEL)) == 1
    assert len(desk.slack.calls_to("chat.postMessage")) == 1
    assert await desk.count(Ticket) == 1


async def test_a_repeated_customer_message_is_posted_once(desk: Harness) -> None:
    await desk.handoff()
    await desk.settle()
    first = await desk.customer_message(HID, "m-7", "Is anyone there?")
    second = await desk.customer_message(HID, "m-7", "Is anyone there?")
    racing = await asyncio.gather(
        *(desk.customer_message(HID, "m-8", "Hello again") for _ in range(3))
    )
    await desk.settle()

    assert (first[0], second[0]) == (202, 200) and first[1] == second[1]
    assert sorted(status for status, _ in racing) == [200, 200, 202]
    thread = desk.thread()
    assert sum("Is anyone there?" in json.dumps(m) for m in thread) == 1
    assert sum("Hello again" in json.dumps(m) for m in thread) == 1
    assert await desk.count(HandoffMessage) == 2
