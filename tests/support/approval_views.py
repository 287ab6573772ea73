"""Approval views and checks shared by the approval Block Kit tests."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.approvals.payloads import ApprovalStatus
from bot.approvals.view import ApprovalView, AuditEntry

CREATED = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
MARKER = "approval:apr-1"
HOSTILE = "<!channel> <@U123> <https://evil|click> & <b>"
FORBIDDEN = ("<!channel>", "<@U123>", "<https://evil")
CARD = "4242 4242 4242 4242"
# Every `<…>` we may emit: a user or group mention, a date, an https link.
ALLOWED_TOKEN = re.compile(
    r"<@[UW][A-Z0-9]{2,30}>|<!subteam\^S[A-Z0-9]{2,30}>|<!date\^\d+\^[^|<>]+\|[^<>]+>"
    r"|<https://[^|<> ]+\|[^<>]+>"
)
BROADCAST = re.compile(r"@(?:channel|here|everyone)", re.IGNORECASE)


def make_view(**overrides: Any) -> ApprovalView:
    view = ApprovalView(
        request_id="apr-1",
        action="refund",
        status=ApprovalStatus.PENDING,
        requested_by="billing-agent",
        customer_id="c-9",
        customer_email="ada@example.com",
        payment_id="pi_123",
        amount_minor=1250,
        currency="usd",
        refund_reason="duplicate",
        justification="Charged twice for the May invoice.",
        created_at=CREATED,
        expires_at=CREATED + timedelta(days=1),
        required_approvals=1,
    )
    return replace(view, **overrides)


def entry(kind: str, **overrides: Any) -> AuditEntry:
    fields: dict[str, Any] = {
        "event_id": 1,
        "kind": kind,
        "at": CREATED,
        "actor_id": None,
        "actor_name": None,
        "source": "webhook",
    }
    return AuditEntry(**{**fields, **overrides})


def dump(message: Any) -> str:
    return json.dumps(message, ensure_ascii=False)


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]


def mrkdwn_texts(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["text"]] if node.get("type") == "mrkdwn" else []
        return own + [t for child in node.values() for t in mrkdwn_texts(child)]
    if isinstance(node, list):
        return [t for child in node for t in mrkdwn_texts(child)]
    return []


def assert_inert(text: str) -> None:
    for forbidden in FORBIDDEN:
        assert forbidden not in text
    assert not BROADCAST.search(text)
    assert "<" not in ALLOWED_TOKEN.sub("", text)


def assert_within_limits(message: dict[str, Any]) -> None:
    assert 0 < len(message["text"]) <= 3000
    assert 0 < len(message["blocks"]) <= 50
    for block in message["blocks"]:
        if block["type"] == "header":
            assert 0 < len(block["text"]["text"]) <= 150
        if "text" in block and block["type"] == "section":
            assert 0 < len(block["text"]["text"]) <= 3000
        assert len(block.get("fields", [])) <= 10
        assert all(0 < len(f["text"]) <= 2000 for f in block.get("fields", []))
        if block["type"] == "context":
            assert all(0 < len(e["text"]) <= 3000 for e in block["elements"])
        for button in block.get("elements", []) if block["type"] == "actions" else []:
            assert 0 < len(button["text"]["text"]) <= 75
            if "confirm" in button:
                assert len(button["confirm"]["text"]["text"]) <= 300
                assert len(button["confirm"]["confirm"]["text"]) <= 30
