"""Constants and the sample handoff payload shared by the scenario harness."""

from __future__ import annotations

import copy
from typing import Any

CHANNEL = "C0ESCALATE"
# Fixed random values (start-up refuses placeholders: docs/configuration.md, "Secrets").
SLACK_SECRET = "e824991ba7addb5686dc2f114f51f44c"
WEBHOOK_SECRET = "244787c288c882f28e2d669e06346834"
BOT_TOKEN = "xoxb-1000000001-2000000002-522d71c3408b52b3f502bafa"
APP_TOKEN = "xapp-1-A0000000001-3000000003-f0799fce0e1aab19d7196c6fb6a7cb6b"
AGENT = ("U0AGENT01", "ana")
OTHER_AGENT = ("U0AGENT02", "bo")
LEAD = ("U0LEAD001", "lee")

HANDOFF: dict[str, Any] = {
    "handoff_id": "sess-42:esc-1",
    "session_id": "sess-42",
    "customer": {"id": "c-9", "name": "Ada", "email": "ada@example.com"},
    "reason": "no_evidence",
    "priority": "high",
    "summary": "Customer cannot find their invoice for March.",
    "intent": "billing.invoice",
    "department": "billing",
    "transcript": [
        {"role": "customer", "text": "Where is my March invoice?", "at": "2026-01-05T08:58:00Z"},
        {"role": "bot", "text": "I could not find it.", "at": "2026-01-05T08:59:00Z"},
    ],
    "evidence": [{"title": "Invoices FAQ", "url": "https://help.example.com/inv", "score": 0.41}],
    "suggested_questions": ["Which email address is the account under?"],
}


def handoff_payload(**overrides: Any) -> dict[str, Any]:
    payload = copy.deepcopy(HANDOFF)
    payload.update(overrides)
    return payload
