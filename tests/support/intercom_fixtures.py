"""Fixtures and data of the Intercom ticketing tests (tests/unit/test_intercom_*.py).

Import the fixtures into a test module by name; they build on ``make_client`` from
tests/unit/conftest.py (an HttpClient on a recorded fake sleep and clock).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest

from integrations.ticketing.intercom import IntercomTicketing
from integrations.ticketing.protocol import (
    EvidenceLink,
    NewTicket,
    Requester,
    TicketPriority,
    Turn,
)
from tests.support.intercom_standin import IntercomStandIn
from tests.support.scripted_http import MakeClient

SECRET = "60c32b131a7211d90164eed7f6aeeb2a"  # a fake client secret


def new_ticket(**changes: Any) -> NewTicket:
    ticket = NewTicket(
        handoff_id="h-0001",
        reference="H-1001",
        external_conversation_id="session-42",
        subject="[H-1001] Ann: wants a refund",
        summary="Ann wants a refund for order 1234.",
        reason="asked for a human",
        priority=TicketPriority.HIGH,
        requester=Requester(external_id="cust-7", name="Ann Customer", email="ann@example.com"),
        transcript=(Turn("user", "I want my money back"), Turn("bot", "Let me get someone")),
        evidence=(EvidenceLink("Refund policy", "https://kb.example/refunds", 0.87),),
        suggested_questions=("Which order is it?",),
        intent="refund",
        metadata={"fallback_reason": "low_confidence", "handoff_reason": "asked for a human"},
    )
    return replace(ticket, **changes)


@pytest.fixture
async def standin() -> AsyncIterator[IntercomStandIn]:
    server = IntercomStandIn(webhook_secret=SECRET)
    await server.start()
    yield server
    await server.stop()
    assert server.violations == []


@pytest.fixture
def connect(standin: IntercomStandIn, make_client: MakeClient) -> Any:
    """``await connect(**ticketing_kwargs, http={client kwargs})`` -> IntercomTicketing."""

    async def make(*, http: dict[str, Any] | None = None, **kwargs: Any) -> IntercomTicketing:
        client = await make_client(**({"timeout": 5.0, "backoff_base": 0.01} | (http or {})))
        kwargs = {"access_token": standin.access_token, "client_secret": SECRET} | kwargs
        return IntercomTicketing(client, url=standin.url, **kwargs)

    return make


@pytest.fixture
async def intercom(connect: Any) -> IntercomTicketing:
    ticketing: IntercomTicketing = await connect()
    return ticketing
