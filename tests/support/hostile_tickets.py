"""Hostile requests to ``POST /webhooks/tickets/{system}``, signed in each system's scheme.

The app files tickets in a stand-in (tests/support/ticketing_e2e.py) and has filed one for a
handoff. The stand-in makes genuine deliveries about that ticket (a comment, an assignment,
an unassignment, a status change); ``ticket_requests`` draws one of them as it is, or with
values replaced by hostile text, JSON of the wrong type, keys left out or added, or raw
garbage instead; signed as the system signs (tests/support/signed_targets.py), or with one
signature header broken. The endpoint takes any Content-Type (it reads the system's own
format), so one is drawn too.

What each may get (docs/openapi.yaml, ``ticketEvent``): a genuine delivery ``200``; garbage
(not JSON, not the system's shape) ``422``; a changed delivery ``200`` or ``422``; a broken
header ``401``; over 1 MiB ``413``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

from hypothesis import strategies as st

from tests.support.harness_data import AGENT, OTHER_AGENT
from tests.support.hostile_client import HostileDesk, Mutation, header_mutations, hostile_desk
from tests.support.hostile_schema import EITHER, INVALID, VALID
from tests.support.hostile_text import (
    CONTENT_TYPES,
    MIB,
    encode,
    hostile_json_body,
    hostile_text,
    json_value,
)
from tests.support.signed_targets import Target, ticket_target
from tests.support.ticketing_e2e import EMAILS, TicketingDesk, ticketing_desk

TICKETS = "/webhooks/tickets/{system}"
SYSTEMS = ("zendesk", "intercom", "custom")
BASE_HANDOFF = "hostile-tickets:1"

# The genuine deliveries each stand-in makes: (kind, fields) for its ``signed_webhook``.
_AGENT_EMAIL, _OTHER_EMAIL = EMAILS[AGENT[0]], EMAILS[OTHER_AGENT[0]]
SEEDS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "zendesk": [
        ("comment", {"body": "On it.", "public": True, "author_email": _AGENT_EMAIL}),
        ("comment", {"body": "internal", "public": False, "author_email": _OTHER_EMAIL}),
        ("assigned", {"assignee_email": _AGENT_EMAIL}),
        ("unassigned", {}),
        ("status", {"status": "pending"}),
    ],
    "intercom": [
        ("comment", {"body": "On it.", "public": True, "author_email": _AGENT_EMAIL}),
        ("comment", {"body": "internal", "public": False, "author_email": _OTHER_EMAIL}),
        ("assign", {"email": _AGENT_EMAIL}),
        ("unassign", {}),
        ("status", {"status": "pending"}),
    ],
    "custom": [
        ("comment", {"body": "On it.", "public": True, "author_email": _AGENT_EMAIL}),
        ("comment", {"body": "internal", "public": False, "author_email": _OTHER_EMAIL}),
        ("assigned", {"assignee_email": _AGENT_EMAIL}),
        ("unassigned", {}),
        ("status", {"status": "pending"}),
    ],
}


@dataclass(repr=False)
class TicketWorld:
    client: HostileDesk
    ticketing: TicketingDesk
    target: Target
    seeds: list[Any]  # the genuine deliveries' JSON
    mutations: dict[str, Mutation]

    def __repr__(self) -> str:
        return f"TicketWorld({self.ticketing.system})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # hypothesis: keep it short
        printer.text(repr(self))

    @property
    def path(self) -> str:
        return TICKETS.format(system=self.ticketing.system)

    def signed(self, raw: bytes, content_type: str | None, mutation: str | None) -> dict[str, str]:
        target = replace(self.target, body=raw)
        sent = target.signed(self.client.desk.clock.now().timestamp())
        headers = {name: value.decode() for name, value in sent if name != "Content-Type"}
        if content_type is not None:
            headers["Content-Type"] = content_type
        return self.mutations[mutation](headers) if mutation else headers


@asynccontextmanager
async def ticket_world(system: str, database_url: str) -> AsyncIterator[TicketWorld]:
    async with ticketing_desk(system, database_url) as ticketing:
        desk = ticketing.desk
        assert (await desk.handoff(handoff_id=BASE_HANDOFF))[0] == 202
        await desk.settle()
        handoff = await desk.stored_handoff(BASE_HANDOFF)
        assert handoff is not None and handoff.ticket_id
        standin: Any = ticketing.remote
        seeds = [
            json.loads(standin.signed_webhook(kind, handoff.ticket_id, **fields)[0])
            for kind, fields in SEEDS[system]
        ]
        target = ticket_target(system)
        mutations = header_mutations(
            target.timestamp_header, target.signature_header, hex_case_matters=system != "intercom"
        )
        async with hostile_desk(desk, database_url) as client:
            yield TicketWorld(client, ticketing, target, seeds, mutations)


# -- requests -------------------------------------------------------------------------------

_REPLACEMENTS = st.one_of(
    json_value,
    hostile_text(40),
    st.sampled_from(["", "0", "-1", "٣", "²", "9" * 40, "1e400", "true", "null"]),
    st.sampled_from([0, -1, 2**63, 1e308, True, None, [], {}, [{}], {"id": None}]),
)


@st.composite
def mutated(draw: st.DrawFn, value: Any, rate: int) -> tuple[Any, bool]:
    """``value`` with some of its parts replaced, left out or added (``rate`` in percent, at
    each part); and whether anything changed."""
    if rate and draw(st.integers(0, 99)) < rate:
        return draw(_REPLACEMENTS), True
    changed = False
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, part in value.items():
            if rate and draw(st.integers(0, 99)) < rate // 2:
                changed = True  # left out
                continue
            out[key], part_changed = draw(mutated(part, rate))
            changed |= part_changed
        if rate and draw(st.integers(0, 99)) < rate // 2:
            out[draw(hostile_text(12))] = draw(json_value)
            changed = True
        return out, changed
    if isinstance(value, list):
        items = []
        for part in value:
            item, part_changed = draw(mutated(part, rate))
            items.append(item)
            changed |= part_changed
        if rate and draw(st.integers(0, 99)) < rate // 2:
            items.append(draw(_REPLACEMENTS))
            changed = True
        return items, changed
    return value, False


@dataclass(frozen=True)
class TicketRequest:
    body: bytes
    content_type: str | None
    mutation: str | None
    verdict: int

    def allowed(self) -> set[int]:
        if len(self.body) > MIB:
            return {413}
        if self.mutation is not None:
            return {401}
        return {VALID: {200}, EITHER: {200, 422}, INVALID: {422}}[self.verdict]


@st.composite
def ticket_requests(draw: st.DrawFn, world: TicketWorld) -> TicketRequest:
    if draw(st.integers(0, 4)) == 0:
        body = draw(hostile_json_body())
        verdict = INVALID  # never the system's shape
    else:
        seed = draw(st.sampled_from(world.seeds))
        value, changed = draw(mutated(seed, draw(st.sampled_from([0, 2, 5, 15, 40]))))
        body, verdict = encode(value), EITHER if changed else VALID
        if draw(st.integers(0, 19)) == 0:  # the same, as the system's own UTF-8
            body = json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")
    content_type, _ = draw(st.sampled_from(CONTENT_TYPES))
    mutation = draw(st.none() | st.none() | st.none() | st.sampled_from(sorted(world.mutations)))
    return TicketRequest(body, content_type, mutation, verdict)
