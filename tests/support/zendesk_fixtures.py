"""Shared pieces of the Zendesk tests: a sample ticket, the stand-in, a real HttpClient
(recorded sleeps, fake clock) and the ZendeskTicketing under test.

Fixtures are defined under private names with ``name=`` so that test modules can import
them without their parameters shadowing the import.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest

from integrations.http import HttpClient
from integrations.ticketing.protocol import (
    EvidenceLink,
    NewTicket,
    Requester,
    TicketEvent,
    TicketPriority,
    Turn,
)
from integrations.ticketing.zendesk import ZendeskTicketing
from tests.support.scripted_http import FakeMonotonic, RecordingSleep
from tests.support.zendesk_standin import ZendeskStandIn

NOW = 1_800_000_000.0
KEY = "deskhand-handoff-h1"


def new_ticket(**changes: Any) -> NewTicket:
    ticket = NewTicket(
        handoff_id="h1",
        reference="H-1001",
        external_conversation_id="sess-42",
        subject="[H-1001] Ann: refund for a double charge",
        summary="Customer was charged twice for order 77.",
        reason="The bot may not issue refunds",
        priority=TicketPriority.HIGH,
        requester=Requester(external_id="cust-9", name="Ann", email="ann@example.org"),
        transcript=(Turn("customer", "I paid twice <b>!</b>", "10:00"), Turn("bot", "Sorry")),
        evidence=(EvidenceLink("Refund policy", "https://kb.example/refunds", 0.91),),
        suggested_questions=("Which card was charged?",),
        metadata={"fallback_reason": "low_confidence", "deskhand_reference": "H-1001"},
    )
    return replace(ticket, **changes)


async def make_client(**kwargs: Any) -> HttpClient:
    kwargs = {"timeout": 2.0, "max_attempts": 3, "backoff_base": 0.01, **kwargs}
    client = HttpClient(sleep=RecordingSleep(), monotonic=FakeMonotonic(), **kwargs)
    await client.start()
    return client


def deliver(
    zendesk: ZendeskTicketing, standin: ZendeskStandIn, kind: str, ticket_id: str, **fields: Any
) -> list[TicketEvent]:
    """Build a signed delivery with the stand-in and parse it (``now`` defaults to NOW)."""
    now = fields.pop("now", NOW)
    body, headers = standin.signed_webhook(kind, ticket_id, **fields)
    return zendesk.parse_webhook(headers, body, now=now)


@pytest.fixture(name="standin")
async def standin_fixture() -> AsyncIterator[ZendeskStandIn]:
    server = ZendeskStandIn()
    await server.start()
    server.clock = lambda: NOW
    yield server
    await server.stop()
    assert server.violations == []


@pytest.fixture(name="http")
async def http_fixture() -> AsyncIterator[HttpClient]:
    client = await make_client(failure_threshold=1000)
    yield client
    await client.close()


@pytest.fixture(name="zendesk")
def zendesk_fixture(standin: ZendeskStandIn, http: HttpClient) -> ZendeskTicketing:
    return ZendeskTicketing(http, **standin.client_kwargs())
