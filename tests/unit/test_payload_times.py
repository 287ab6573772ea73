"""Times in the chatbot's payloads are RFC 3339 strings with their offset, as documented."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from bot.handoffs.payloads import CustomerMessageIn, Evidence, Turn


def _parsers() -> list[tuple[str, Any]]:
    return [
        ("turn", lambda at: Turn.model_validate({"role": "customer", "text": "hi", "at": at}).at),
        (
            "message",
            lambda at: (
                CustomerMessageIn.model_validate({"message_id": "m-1", "text": "hi", "at": at}).at
            ),
        ),
        (
            "evidence",
            lambda at: Evidence.model_validate({"title": "t", "retrieved_at": at}).retrieved_at,
        ),
    ]


@pytest.mark.parametrize(
    ("where", "parse"), _parsers(), ids=lambda v: v if isinstance(v, str) else ""
)
@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2026-01-05T08:58:00Z", datetime(2026, 1, 5, 8, 58, tzinfo=UTC)),
        ("2026-01-05t08:58:00.25z", datetime(2026, 1, 5, 8, 58, 0, 250000, tzinfo=UTC)),
        (
            "2026-01-05T09:58:00+01:00",
            datetime(2026, 1, 5, 9, 58, tzinfo=timezone(timedelta(hours=1))),
        ),
    ],
)
def test_an_rfc_3339_time_is_taken(where: str, parse: Any, text: str, moment: datetime) -> None:
    assert parse(text) == moment


@pytest.mark.parametrize(
    ("where", "parse"), _parsers(), ids=lambda v: v if isinstance(v, str) else ""
)
@pytest.mark.parametrize(
    "value",
    [
        1767603480,
        1767603480.5,
        "1767603480",
        "2026-01-05T08:58:00",
        "2026-01-05",
        "yesterday",
        True,
    ],
)
def test_anything_else_is_refused(where: str, parse: Any, value: object) -> None:
    with pytest.raises(ValidationError, match="RFC 3339"):
        parse(value)
