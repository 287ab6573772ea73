"""The chatbot's inbound payloads, validated exactly as docs/openapi.yaml describes.

Every text field is ``Bounded``: its documented maximum, and NUL stored as U+FFFD."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AnyHttpUrl, BaseModel, BeforeValidator, ConfigDict, Field, UrlConstraints

from bot.bounded import Bounded
from bot.handoffs.view import Priority
from storage.limits import EMAIL, PERSON_NAME, PUBLIC_ID

PUBLIC_ID_PATTERN = r"^[A-Za-z0-9:_.\-]+$"
PublicId = Annotated[str, Bounded(PUBLIC_ID, min_length=1, pattern=PUBLIC_ID_PATTERN)]
SUMMARY = 5_000
TEXT = 20_000  # a transcript turn, a customer message
SHORT_TEXT = 1_000  # intent, an evidence title, a suggested question
# RFC 3339, as docs/openapi.yaml says: a string with its offset. pydantic alone would also
# take a unix number or a time without an offset, which the document does not allow.
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
)


def _rfc3339(value: object) -> object:
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise ValueError("must be an RFC 3339 date-time with its offset, like 2026-01-05T08:58:00Z")
    return value


Rfc3339 = Annotated[datetime, BeforeValidator(_rfc3339)]
Reason = Literal[
    "no_evidence", "conflict", "low_confidence", "missing_entitlement", "customer_request", "other"
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False, frozen=True)


class Customer(_Strict):
    id: Annotated[str, Bounded(PUBLIC_ID, min_length=1)]
    name: Annotated[str, Bounded(PERSON_NAME)] | None = None
    email: Annotated[str, Bounded(EMAIL)] | None = None


class Turn(_Strict):
    role: Literal["customer", "bot"]
    text: Annotated[str, Bounded(TEXT)]
    at: Rfc3339 | None = None


class Evidence(_Strict):
    title: Annotated[str, Bounded(SHORT_TEXT, min_length=1)]
    url: Annotated[AnyHttpUrl, UrlConstraints(max_length=2048)] | None = None
    score: Annotated[float, Field(ge=0, le=1)] | None = None
    retrieved_at: Rfc3339 | None = None


class HandoffIn(_Strict):
    handoff_id: PublicId
    session_id: Annotated[str, Bounded(PUBLIC_ID, min_length=1)]
    customer: Customer
    reason: Reason
    priority: Priority = Priority.NORMAL
    summary: Annotated[str, Bounded(SUMMARY, min_length=1)]
    intent: Annotated[str, Bounded(SHORT_TEXT)] | None = None
    department: Annotated[str, Bounded(200)] | None = None
    transcript: Annotated[list[Turn], Field(max_length=500)]
    evidence: Annotated[list[Evidence], Field(max_length=50)] = []
    suggested_questions: Annotated[
        list[Annotated[str, Bounded(SHORT_TEXT)]], Field(max_length=20)
    ] = []
    locale: (
        Annotated[str, Bounded(35, min_length=2, pattern=r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$")]
        | None
    ) = None


class CustomerMessageIn(_Strict):
    message_id: PublicId
    text: Annotated[str, Bounded(TEXT, min_length=1)]
    at: Rfc3339 | None = None
