"""A stored handoff's column values, for storage tests on every backend."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def handoff_values(n: int = 1, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "handoff_id": f"sess-{n}:esc-1",
        "reference": f"HD-{n:04}",
        "session_id": f"sess-{n}",
        "status": "queued",
        "priority": "high",
        "reason": "no_evidence",
        "summary": "Customer cannot find their invoice.",
        "customer_id": f"c-{n}",
        "transcript": [{"role": "customer", "text": "hi", "at": "2026-01-05T08:58:00Z"}],
        "evidence": [],
        "suggested_questions": ["Which account?"],
        "created_at": T0,
        "updated_at": T0,
    }
    values.update(overrides)
    return values
