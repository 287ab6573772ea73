"""Every signed endpoint refuses malformed signature headers with the contract's 401 JSON:
never a 5xx, nothing stored, nobody told, and the process healthy afterwards. On both
databases; Slack's endpoint over HTTP, and in Socket Mode a 404 that acts on nothing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from storage.models import Base
from tests.support.harness import Harness, running
from tests.support.raw_http import FIELD_BYTES, Header, RawAnswer, send
from tests.support.signed_targets import (
    FORM,
    HEADER_CODES,
    HID,
    Target,
    bad_header_sets,
    deskhand_targets,
    slack_target,
    ticket_target,
)
from tests.support.ticketing_e2e import ticketing_desk

TICKET_SYSTEMS = ("zendesk", "intercom", "custom")
DESKHAND_TARGETS = ("handoffs", "customer_message", "approvals", "approval_status")
ALL_TARGETS = (*DESKHAND_TARGETS, "slack_events", *TICKET_SYSTEMS)


@dataclass
class World:
    desk: Harness
    targets: dict[str, Target]

    async def send(
        self, target: Target, headers: list[Header], body: bytes | None = None
    ) -> RawAnswer:
        sent = target.body if body is None else body
        return await send(self.desk.url(target.path), target.method, headers, sent)

    async def snapshot(self) -> tuple[tuple[int, ...], int, int]:
        """Rows in every table, Slack calls beyond auth.test, callbacks to the chatbot."""
        tables = Base.metadata.sorted_tables
        counts = select(*(select(func.count()).select_from(t).scalar_subquery() for t in tables))
        async with self.desk.app.db.uow() as uow:
            rows = tuple((await uow.session.execute(counts)).one())
        slack = len([c for c in self.desk.slack.calls if c.method != "auth.test"])
        return rows, slack, len(self.desk.chatbot.received)

    def now(self) -> float:
        return self.desk.clock.now().timestamp()


@pytest.fixture(params=["deskhand", *TICKET_SYSTEMS])
async def world(request: pytest.FixtureRequest, database_url: str) -> AsyncIterator[World]:
    async with world_for(request.param, database_url) as built:
        yield built


def world_for(name: str, database_url: str) -> _WorldContext:
    return _WorldContext(name, database_url)


class _WorldContext:
    """The app a target lives in: deskhand's own endpoints and Slack's with one posted
    handoff (so a forged claim would have something to claim), or a ticketing system's."""

    def __init__(self, name: str, database_url: str) -> None:
        self.name, self.database_url = name, database_url

    async def __aenter__(self) -> World:
        if self.name in TICKET_SYSTEMS:
            self._context = ticketing_desk(self.name, self.database_url)
            desk = (await self._context.__aenter__()).desk
            return World(desk, {self.name: ticket_target(self.name)})
        self._context = running(self.database_url)
        desk = await self._context.__aenter__()
        assert (await desk.handoff())[0] == 202
        await desk.settle()
        post = desk.posted_message(HID)
        assert post is not None
        return World(desk, {t.name: t for t in deskhand_targets(post["ts"])})

    async def __aexit__(self, *exc: object) -> None:
        await self._context.__aexit__(*exc)


def assert_refused(answer: RawAnswer, status: int, codes: frozenset[str], case: str) -> None:
    assert answer.status == status, (case, answer)
    assert answer.content_type.startswith("application/json"), (case, answer)
    body = answer.json()
    assert set(body) == {"error"} and set(body["error"]) <= {"code", "message", "details"}
    assert body["error"]["code"] in codes, (case, body)
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


async def assert_healthy(world: World) -> None:
    status, _, _ = await world.desk.get("/healthz")
    assert status == 200


async def test_malformed_signature_headers_are_refused(world: World) -> None:
    before = await world.snapshot()
    for target in world.targets.values():
        for case, headers in bad_header_sets(target, world.now()):
            answer = await world.send(target, headers)
            assert_refused(answer, 401, HEADER_CODES, f"{target.name}: {case}")
    await world.desk.settle()
    assert await world.snapshot() == before
    await assert_healthy(world)
    if "slack_events" in world.targets:
        stored = await world.desk.stored_handoff(HID)
        assert stored is not None and stored.claimed_by is None  # no forged claim landed
    for target in world.targets.values():  # the same requests, signed properly, get through
        answer = await world.send(target, target.signed(world.now()))
        assert answer.status < 500 and answer.status not in (401, 403), (target.name, answer)


# -- generated headers ----------------------------------------------------------------------

NOW_PLACEHOLDER = b"{now}"
GENERATED = st.one_of(
    st.binary(max_size=48).map(lambda raw: bytes(b for b in raw if b in FIELD_BYTES)),
    st.text(max_size=24).map(str.encode).map(lambda raw: bytes(b for b in raw if b in FIELD_BYTES)),
    st.text(alphabet="0123456789\u00b2\u00b3\u0661\u0967\u0e51\u1811+- \t.eEx", max_size=14).map(
        str.encode
    ),
    st.builds(
        lambda sign, skew, tail: sign + NOW_PLACEHOLDER + str(skew).encode() + tail,
        st.sampled_from([b"", b"+", b"-", b"--", b"0", b" ", b"\t"]),
        st.integers(min_value=-9, max_value=9),
        st.sampled_from([b"", b" ", b"\t", b".0", b"1", b"\xc2\xb2"]),
    ),
)
CHOICE = st.sampled_from(["absent", "good", "generated", "twice"])


def _plausible(target: Target, seen: bytes, now: float) -> bool:
    """Whether what the server sees after stripping might be a genuine fresh timestamp."""
    text = seen.decode("latin-1")
    if target.iso_timestamp:
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return text.isascii() and text.isdigit()
        aware = when if when.tzinfo else when.replace(tzinfo=UTC)
        return abs(aware.timestamp() - now) <= 300
    return text.isascii() and text.isdigit() and len(text) <= 12 and abs(int(text) - now) <= 300


@pytest.fixture(params=ALL_TARGETS)
async def one_target(request: pytest.FixtureRequest, database_url: str) -> AsyncIterator[World]:
    name = request.param if request.param in TICKET_SYSTEMS else "deskhand"
    async with world_for(name, database_url) as built:
        built.targets = {request.param: built.targets[request.param]}
        yield built


def _genuine(target: Target, headers: list[Header], now: float) -> bool:
    """Whether the server, after stripping each value, sees a genuine signed request."""
    names = [n for n in (target.timestamp_header, target.signature_header) if n is not None]
    values = {name: [v.strip(b" \t") for n, v in headers if n == name] for name in names}
    if any(len(sent) != 1 or not sent[0] for sent in values.values()):
        return False
    stamp = values[target.timestamp_header][0] if target.timestamp_header else b""
    if target.timestamp_header is not None and not _plausible(target, stamp, now):
        return False
    expected = target.sign(stamp.decode("latin-1"), target.body).encode()
    return expected == values[target.signature_header][0]


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_generated_signature_headers_are_refused(
    one_target: World, data: st.DataObject
) -> None:
    world = one_target
    (target,) = world.targets.values()
    now = world.now()
    stamp = target.timestamp(now).encode()
    headers: list[Header] = [("Content-Type", target.content_type.encode())]
    if target.timestamp_header is not None:
        choice = data.draw(CHOICE, label="timestamp")
        generated = data.draw(GENERATED).replace(NOW_PLACEHOLDER, str(int(now)).encode())
        if choice != "good":
            stamp = generated
        if choice != "absent":
            headers += [(target.timestamp_header, stamp)] * (2 if choice == "twice" else 1)
    choice = data.draw(CHOICE, label="signature")
    # "good": correct over the timestamp as the server sees it, so only the parse refuses.
    signature = target.sign(stamp.strip(b" \t").decode("utf-8", "replace"), target.body)
    value = signature.encode() if choice == "good" else data.draw(GENERATED)
    if choice != "absent":
        headers += [(target.signature_header, value)] * (2 if choice == "twice" else 1)
    assume(not _genuine(target, headers, now))  # a genuine request is not a refusal case

    before = await world.snapshot()
    answer = await world.send(target, headers)
    assert_refused(answer, 401, HEADER_CODES, repr(headers))
    assert await world.snapshot() == before


# -- Slack's endpoint: bodies Bolt cannot read, and Socket Mode -------------------------------


@pytest.fixture
async def slack_world(database_url: str) -> AsyncIterator[World]:
    async with world_for("deskhand", database_url) as built:
        built.targets = {"slack_events": built.targets["slack_events"]}
        yield built


async def test_signed_bodies_bolt_cannot_read_are_refused_not_crashed(slack_world: World) -> None:
    (target,) = slack_world.targets.values()
    bodies = [
        (b"payload=not-json", FORM),
        (b"payload=%5B1%2C2%5D", FORM),  # a JSON array where the object belongs
        (b"payload=" + b"%5B" * 50_000, FORM),
        (b"[" * 100_000, "application/json"),
        (b"[1, 2]", "application/json"),
        (b'"text"', "application/json"),
        (b"{not json", "application/json"),
        (b"\xff\xfe\x00payload", FORM),
        # Parsed, but without what Slack always sends and the listeners read.
        (b"payload=" + quote('{"type": "block_actions", "actions": "x"}').encode(), FORM),
        (
            b"payload="
            + quote(
                json.dumps(
                    {
                        "type": "block_actions",
                        "user": {"id": "U1"},
                        "actions": [{"action_id": "handoff_claim"}],
                    }
                )
            ).encode(),
            FORM,
        ),
        (b'{"type": "event_callback", "event": "x"}', "application/json"),
        (b'{"type": "event_callback", "event": {"type": "app_home_opened"}}', "application/json"),
        (b"command=%2Fdesk&text=list", FORM),
    ]
    before = await slack_world.snapshot()
    for body, content_type in bodies:
        stamp = target.timestamp(slack_world.now())
        headers: list[Header] = [
            ("Content-Type", content_type.encode()),
            ("X-Slack-Request-Timestamp", stamp.encode()),
            ("X-Slack-Signature", target.sign(stamp, body).encode()),
        ]
        answer = await slack_world.send(target, headers, body)
        assert_refused(answer, 422, frozenset({"invalid_payload"}), repr(body[:20]))
    assert await slack_world.snapshot() == before
    await assert_healthy(slack_world)
    # A type nothing handles: Bolt's 404, in the contract's shape.
    body = b"payload=" + quote('{"type": "shortcut"}').encode()
    stamp = target.timestamp(slack_world.now())
    headers = [
        ("Content-Type", FORM.encode()),
        ("X-Slack-Request-Timestamp", stamp.encode()),
        ("X-Slack-Signature", target.sign(stamp, body).encode()),
    ]
    answer = await slack_world.send(target, headers, body)
    assert_refused(answer, 404, frozenset({"unhandled"}), "shortcut")


async def test_bolts_own_headers_are_not_taken_from_outside(slack_world: World) -> None:
    # x-slack-bolt-lazy-only would make Bolt skip the listener's ack and run only the
    # lazy part: the claim must still be acked and applied once.
    (target,) = slack_world.targets.values()
    headers = [*target.signed(slack_world.now()), ("X-Slack-Bolt-Lazy-Only", b"1")]
    answer = await slack_world.send(target, headers)
    assert answer.status == 200, answer
    await slack_world.desk.app.after_ack.join()
    stored = await slack_world.desk.stored_handoff(HID)
    assert stored is not None and stored.claimed_by == "U0AGENT01"


async def test_socket_mode_answers_404_over_http_and_acts_on_nothing(database_url: str) -> None:
    async with running(database_url, slack_mode="socket") as desk:
        assert (await desk.handoff())[0] == 202
        await desk.settle()
        post = desk.posted_message(HID)
        assert post is not None
        world = World(desk, {})
        before = await world.snapshot()
        target = slack_target(post["ts"])  # a claim, signed with the real signing secret
        for headers in (target.signed(world.now()), [("Content-Type", FORM.encode())]):
            answer = await world.send(target, headers)
            assert_refused(answer, 404, frozenset({"not_found"}), "socket mode")
        await desk.settle()
        assert await world.snapshot() == before
        stored = await desk.stored_handoff(HID)
        assert stored is not None and stored.claimed_by is None
        await assert_healthy(world)
