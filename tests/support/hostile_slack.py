"""Hostile requests to ``POST /slack/events``, signed as Slack signs them.

``slack_requests()`` draws one request: an Events API callback (JSON), an interactivity
payload (``payload=`` form: block_actions, view_submission and kinds deskhand leaves to
Bolt), a slash command (form), or garbage; with hostile text in every field, fields left out
or of the wrong type, and now and then the wrong Content-Type or a broken signature header.
Each comes with what Slack's endpoint may answer (docs/webhooks.md): a body Slack would
never send (not UTF-8, unreadable, without the fields deskhand reads: handlers/slack/
envelopes.py) gets ``422``; a well-formed one of a kind nothing handles Bolt's ``404``; a
well-formed one deskhand handles is acked ``200``.

The values are drawn around the world ``slack_world`` makes: a posted handoff and a posted
approval, so that clicks, thread replies and modal submissions sometimes name something
real, and real users (an agent, an approver, a lead) beside made-up ones.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from hypothesis import strategies as st

from bot.approvals.actions import ApprovalAction, ApprovalBlock, ApprovalModal
from bot.approvals.forms import FormContext
from bot.handoffs.actions import HandoffAction
from bot.home import HomeAction
from bot.tickets.actions import TicketAction
from integrations.verification import v0_signature
from tests.support.approvals_e2e import APPROVAL_CHANNEL, APPROVER, approval_desk
from tests.support.harness_data import AGENT, CHANNEL, LEAD, SLACK_SECRET
from tests.support.hostile_checks import no_error_logs
from tests.support.hostile_client import HostileDesk, Mutation, header_mutations, hostile_desk
from tests.support.hostile_schema import EITHER, INVALID, VALID
from tests.support.hostile_text import (
    CONTENT_TYPES,
    MIB,
    hostile_json_body,
    hostile_text,
    json_value,
)

SLACK_EVENTS = "/slack/events"
TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
SIGNATURE_HEADER = "X-Slack-Signature"
SLACK_MUTATIONS: dict[str, Mutation] = header_mutations(TIMESTAMP_HEADER, SIGNATURE_HEADER)
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
BASE_HANDOFF = "hostile-slack:1"
KNOWN_REQUEST = "apr-known"
ACKED, UNHANDLED = 200, 404

# Slack's answer to a delivery naming a user or channel it does not know. Only a forged
# request names one (Slack sends its own ids); deskhand dead-letters such a delivery, as
# for any permanent refusal (docs/architecture.md), and that is not a failure of deskhand's.
UNKNOWN_TO_SLACK = re.compile(
    r"\[slack\] [\w.]+: (user_not_found|channel_not_found|user_not_in_channel)"
)
DELIVERY_REFUSED = frozenset({"outbox.rejected", "outbox.dead_letter"})

HANDLED_ACTIONS = [
    *(a.value for a in HandoffAction),
    *(a.value for a in ApprovalAction),
    TicketAction.RETRY.value,
    HomeAction.SET_AVAILABLE.value,
    HomeAction.SET_AWAY.value,
]
HANDLED_VIEWS = [m.value for m in ApprovalModal]
HANDLED_EVENTS = ["message", "app_home_opened"]
# Interactivity kinds deskhand has no listener for, and the keys Bolt's routing reads in them.
OTHER_KINDS = ["shortcut", "message_action", "block_suggestion", "view_closed"]
OTHER_KINDS += ["interactive_message", "dialog_submission", "workflow_step_edit", "x"]
BOLT_KEYS = ["callback_id", "actions", "view", "workflow_step", "action_id", "trigger_id"]


@dataclass(repr=False)
class SlackWorld:
    """The hostile client, and what is real in it: ids a request may name."""

    client: HostileDesk
    handoff_ts: str
    approval_ts: str

    def __repr__(self) -> str:
        return "SlackWorld()"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # hypothesis: keep it short
        printer.text(repr(self))

    def signed(self, raw: bytes, content_type: str | None, mutation: str | None) -> dict[str, str]:
        stamp = str(int(self.client.desk.clock.now().timestamp()))
        headers = {
            TIMESTAMP_HEADER: stamp,
            SIGNATURE_HEADER: v0_signature(SLACK_SECRET, stamp, raw),
        }
        if content_type is not None:
            headers["Content-Type"] = content_type
        return SLACK_MUTATIONS[mutation](headers) if mutation else headers

    async def settled(self) -> None:
        """Let a click's work (run after its ack) and what it queued finish, logging no
        error, so the next request counts rows on a database at rest."""
        with no_error_logs(self.client.tolerated):
            await self.client.desk.app.after_ack.join()
            await self.client.desk.settle()


def unknown_to_slack(entry: dict[str, Any]) -> bool:
    """A delivery Slack refused for naming a user or channel it does not know."""
    return entry.get("event") in DELIVERY_REFUSED and bool(
        UNKNOWN_TO_SLACK.fullmatch(str(entry.get("error")))
    )


@asynccontextmanager
async def slack_world(database_url: str) -> AsyncIterator[SlackWorld]:
    async with approval_desk(database_url) as approvals:
        desk = approvals.desk
        assert (await desk.handoff(handoff_id=BASE_HANDOFF))[0] == 202
        assert (await approvals.ask(request_id=KNOWN_REQUEST))[0] == 202
        await desk.settle()
        post, approval = desk.posted_message(BASE_HANDOFF), approvals.message(KNOWN_REQUEST)
        assert post is not None and approval is not None
        async with hostile_desk(desk, database_url, approvals) as client:
            # Slack's refusals may come in during a later request: deliveries are paced.
            client.tolerated = unknown_to_slack
            yield SlackWorld(client, post["ts"], approval["ts"])


@dataclass(frozen=True)
class SlackRequest:
    body: bytes
    content_type: str | None
    mutation: str | None
    verdict: int  # VALID: acked or unhandled as ``handled`` says; INVALID: 422; EITHER
    handled: bool = True

    def allowed(self) -> set[int]:
        if len(self.body) > MIB:
            return {413}
        if self.mutation is not None:
            return {401}
        if self.verdict == INVALID:
            return {422}
        if self.verdict == VALID:
            return {ACKED if self.handled else UNHANDLED}
        return {ACKED, UNHANDLED, 422}


# -- fields -------------------------------------------------------------------------------------

_WRONG_TYPES = st.one_of(
    st.integers(), st.booleans(), st.lists(st.integers(), max_size=2), st.just({"x": 1})
)
# Real ids and made-up ones, never empty (an empty one is refused: handlers/slack/envelopes.py).
_USERS = [AGENT[0], APPROVER[0], LEAD[0], "U0NOBODY1"]
_CHANNELS = [CHANNEL, APPROVAL_CHANNEL, "C0ELSEWHERE"]
ids = st.sampled_from(_USERS) | hostile_text(20).filter(bool)
channels = st.sampled_from(_CHANNELS) | hostile_text(12).filter(bool)
timestamps = st.sampled_from(["1700000000.000100", "1.1"]) | hostile_text(20)


def _mostly(known: st.SearchStrategy[str], other: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """``known`` three times in four: what deskhand handles gets most of the requests."""
    return st.integers(0, 3).flatmap(lambda n: known if n else other)


class Fields:
    """One payload's fields, drawn one by one; remembers the worst fault it put in.

    ``checked`` fields are the ones handlers/slack/envelopes.py reads: a missing or
    wrongly typed one must be refused. The others may be anything."""

    def __init__(self, draw: st.DrawFn, rate: int, *, form: bool = False) -> None:
        self.draw, self.rate, self.verdict = draw, rate, VALID
        self.form = form  # a form's values are all text: a wrong type arrives as JSON text

    def faulty(self) -> bool:
        return self.rate > 0 and self.draw(st.integers(0, 99)) < self.rate

    def put(
        self, into: dict[str, Any], key: str, good: Any, *, checked: bool, optional: bool = False
    ) -> None:
        if not self.faulty():
            into[key] = good
            return
        if self.draw(st.booleans()):  # left out
            if checked and not optional:
                self.verdict = max(self.verdict, INVALID)
            else:
                self.verdict = max(self.verdict, EITHER)
            return
        wrong = self.draw(_WRONG_TYPES.filter(lambda w: type(w) is not type(good)))
        into[key] = json.dumps(wrong) if self.form else wrong
        self.verdict = max(self.verdict, INVALID if checked and not self.form else EITHER)

    def value(self, strategy: st.SearchStrategy[Any]) -> Any:
        return self.draw(strategy)


def _user(f: Fields) -> dict[str, Any]:
    user: dict[str, Any] = {}
    f.put(user, "id", f.value(ids), checked=True)
    f.put(user, "name", f.value(hostile_text(20)), checked=True, optional=True)
    f.put(user, "team_id", "T0DEMO", checked=False)
    return user


def _envelope(f: Fields, kind: str) -> dict[str, Any]:
    payload: dict[str, Any] = {"type": kind, "api_app_id": "A0DESKHAND"}
    f.put(payload, "team", {"id": "T0DEMO", "domain": "demo"}, checked=False)
    return payload


def _block_actions(world: SlackWorld, f: Fields) -> tuple[dict[str, Any], bool]:
    payload = _envelope(f, "block_actions")
    f.put(payload, "user", _user(f), checked=True)
    action_id = f.value(_mostly(st.sampled_from(HANDLED_ACTIONS), hostile_text(20)))
    value = f.value(st.sampled_from([BASE_HANDOFF, KNOWN_REQUEST]) | hostile_text(40))
    action: dict[str, Any] = {"type": "button", "block_id": "b", "action_ts": "1.2"}
    f.put(action, "action_id", action_id, checked=True)
    f.put(action, "value", value, checked=True, optional=False)
    actions = [action, *f.value(st.lists(st.just(action), max_size=1))]
    if f.faulty():  # Bolt routes on the first action
        actions, f.verdict = [], max(f.verdict, INVALID)
    f.put(payload, "actions", actions, checked=True)
    channel = f.value(channels)
    ts = f.value(st.sampled_from([world.handoff_ts, world.approval_ts]) | timestamps)
    f.put(payload, "channel", {"id": channel}, checked=True, optional=True)
    f.put(payload, "message", {"type": "message", "ts": ts}, checked=True, optional=True)
    f.put(payload, "container", {"type": "message", "message_ts": ts}, checked=False)
    f.put(payload, "trigger_id", f.value(hostile_text(20)), checked=True, optional=True)
    return payload, action_id in HANDLED_ACTIONS


def _private_metadata(f: Fields) -> str:
    context = FormContext(
        request_id=KNOWN_REQUEST, channel=APPROVAL_CHANNEL, currency="usd", amount_minor=1250
    )
    broken = st.one_of(
        hostile_text(30),
        json_value.map(json.dumps),
        st.just(json.dumps({"r": KNOWN_REQUEST})),
        st.just(json.dumps({"r": [], "c": 1, "cur": None, "a": "x"})),
    )
    if f.value(st.integers(0, 2)) == 0:
        f.verdict = max(f.verdict, EITHER)
        text: str = f.value(broken)
        return text
    return context.dump()


def _view_submission(f: Fields) -> tuple[dict[str, Any], bool]:
    payload = _envelope(f, "view_submission")
    f.put(payload, "user", _user(f), checked=True)
    callback_id = f.value(_mostly(st.sampled_from(HANDLED_VIEWS), hostile_text(20)))
    blocks = [ApprovalBlock.REASON.value, ApprovalBlock.AMOUNT.value, ApprovalBlock.NOTE.value]
    typed = st.sampled_from(["", "5", "12.50", "USD 3", "-1", "99999999999"]) | hostile_text(40)
    values = {
        block: {block: {"type": "plain_text_input", "value": f.value(typed)}}
        for block in f.value(st.lists(st.sampled_from(blocks), unique=True))
    }
    view: dict[str, Any] = {"id": "V0HOSTILE", "hash": "1.x"}
    f.put(view, "type", "modal", checked=False)  # Bolt needs it there (of any type)
    f.put(view, "callback_id", callback_id, checked=True)
    f.put(view, "private_metadata", _private_metadata(f), checked=True, optional=True)
    f.put(view, "state", {"values": values}, checked=True)
    f.put(payload, "view", view, checked=True)
    return payload, callback_id in HANDLED_VIEWS


def _event_callback(world: SlackWorld, f: Fields) -> tuple[dict[str, Any], bool]:
    others = ["reaction_added", "workflow_step_execute", "function_executed"]
    kind = f.value(
        _mostly(st.sampled_from(HANDLED_EVENTS), st.sampled_from(others) | hostile_text(12))
    )
    event: dict[str, Any] = {"type": kind}
    thread = st.sampled_from([world.handoff_ts, world.approval_ts]) | timestamps
    f.put(event, "user", f.value(ids), checked=True, optional=kind != "app_home_opened")
    f.put(event, "channel", f.value(channels), checked=True, optional=kind != "message")
    f.put(event, "ts", f.value(timestamps), checked=True, optional=kind != "message")
    f.put(event, "thread_ts", f.value(thread), checked=True, optional=True)
    f.put(event, "text", f.value(hostile_text(200)), checked=True, optional=True)
    subtypes = st.sampled_from(["thread_broadcast", "file_share", "bot_message", "changed"])
    if f.value(st.integers(0, 3)) == 0:
        f.put(event, "subtype", f.value(subtypes | hostile_text(10)), checked=True)
    if f.value(st.integers(0, 5)) == 0:  # what Bolt's own message matchers read
        event |= {"channel_type": "im", "message": f.value(json_value)}
        f.verdict = max(f.verdict, EITHER)
    if kind == "app_home_opened":
        # Without a tab it is the Home tab (handlers/slack/desk.py): left out is no fault.
        tab = f.value(st.sampled_from(["home", "messages"]))
        f.put(event, "tab", tab, checked=True, optional=True)
    payload = _envelope(f, "event_callback")
    f.put(payload, "event", event, checked=True)
    f.put(payload, "event_id", f.value(hostile_text(20)), checked=False)
    f.put(payload, "event_time", f.value(st.integers()), checked=False)
    return payload, kind in HANDLED_EVENTS


def _command(draw: st.DrawFn, rate: int) -> tuple[dict[str, Any], int, bool]:
    f = Fields(draw, rate, form=True)
    words = ["available", "away", "status", "list", "return DH-1", "fallbacks", "deadletters"]
    words += ["approvals", f"approvals {KNOWN_REQUEST}", "help", ""]
    command: dict[str, Any] = {"team_id": "T0DEMO", "response_url": "https://hooks.example/1"}
    name = f.value(_mostly(st.just("/desk"), st.just("/other") | hostile_text(8)))
    f.put(command, "command", name, checked=False)  # without it, a form nothing handles
    f.put(command, "user_id", f.value(ids), checked=True)
    f.put(
        command,
        "text",
        f.value(st.sampled_from(words) | hostile_text(60)),
        checked=True,
        optional=True,
    )
    f.put(command, "user_name", f.value(hostile_text(20)), checked=True, optional=True)
    f.put(command, "channel_id", f.value(channels), checked=True, optional=True)
    f.put(command, "trigger_id", f.value(hostile_text(20)), checked=False)
    if "command" not in command:  # not a command at all: nothing reads its fields
        return command, EITHER, False
    return command, f.verdict, command["command"] == "/desk"


def _form(fields: dict[str, Any]) -> bytes:
    return urlencode(fields, encoding="utf-8", errors="surrogatepass").encode()


def _payload_form(payload: dict[str, Any]) -> bytes:
    return _form({"payload": json.dumps(payload)})


@st.composite
def slack_requests(draw: st.DrawFn, world: SlackWorld) -> SlackRequest:
    kind = draw(st.sampled_from(["event", "actions", "view", "command", "other", "garbage"]))
    f = Fields(draw, draw(st.sampled_from([0, 0, 0, 3, 10, 40])))
    content_type: str | None = FORM
    handled = True
    if kind == "event":
        payload, handled = _event_callback(world, f)
        body, content_type = json.dumps(payload).encode(), JSON
    elif kind == "actions":
        payload, handled = _block_actions(world, f)
        body = _payload_form(payload)
    elif kind == "view":
        payload, handled = _view_submission(f)
        body = _payload_form(payload)
    elif kind == "command":
        command, f.verdict, handled = _command(draw, f.rate)
        body = _form(command)
    elif kind == "other":  # kinds deskhand leaves to Bolt: unhandled, or its own answer
        payload = {"type": draw(st.sampled_from(OTHER_KINDS)), "user": {"id": AGENT[0]}}
        for key in draw(st.lists(st.sampled_from(BOLT_KEYS), max_size=4, unique=True)):
            payload[key] = draw(json_value)
        body, handled, f.verdict = _payload_form(payload), False, EITHER
    else:
        body = draw(hostile_json_body())
        content_type = draw(st.sampled_from([JSON, FORM]))
        if draw(st.booleans()):
            body = (
                _form({"payload": body.decode("utf-8", "surrogatepass")})
                if body.isascii()
                else body
            )
        f.verdict = EITHER
    if draw(st.integers(0, 9)) == 0:  # a Content-Type Slack would not send
        other_type, _ = draw(st.sampled_from(CONTENT_TYPES))
        if other_type != content_type:
            content_type, f.verdict = other_type, max(f.verdict, EITHER)
    mutation = draw(st.none() | st.none() | st.none() | st.sampled_from(sorted(SLACK_MUTATIONS)))
    return SlackRequest(body, content_type, mutation, f.verdict, handled)
