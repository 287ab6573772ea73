"""The chatbot's inbound payloads, validated exactly as docs/openapi.yaml describes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, StringConstraints, UrlConstraints

from bot.handoffs.view import Priority

PublicId = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9:_.\-]+$")
]
Reason = Literal[
    "no_evidence", "conflict", "low_confidence", "missing_entitlement", "customer_request", "other"
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False, frozen=True)


class Customer(_Strict):
    id: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    name: Annotated[str, StringConstraints(max_length=400)] | None = None
    email: Annotated[str, StringConstraints(max_length=320)] | None = None


class Turn(_Strict):
    role: Literal["customer", "bot"]
    text: Annotated[str, StringConstraints(max_length=20_000)]
    at: datetime | None = None


class Evidence(_Strict):
    title: Annotated[str, StringConstraints(min_length=1, max_length=1_000)]
    url: Annotated[AnyHttpUrl, UrlConstraints(max_length=2048)] | None = None
    score: Annotated[float, Field(ge=0, le=1)] | None = None
    retrieved_at: datetime | None = None


class HandoffIn(_Strict):
    handoff_id: PublicId
    session_id: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    customer: Customer
    reason: Reason
    priority: Priority = Priority.NORMAL
    summary: Annotated[str, StringConstraints(min_length=1, max_length=5_000)]
    intent: Annotated[str, StringConstraints(max_length=1_000)] | None = None
    department: Annotated[str, StringConstraints(max_length=200)] | None = None
    transcript: Annotated[list[Turn], Field(max_length=500)]
    evidence: Annotated[list[Evidence], Field(max_length=50)] = []
    suggested_questions: Annotated[
        list[Annotated[str, StringConstraints(max_length=1_000)]], Field(max_length=20)
    ] = []
    locale: (
        Annotated[
            str,
            StringConstraints(
                min_length=2, max_length=35, pattern=r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$"
            ),
        ]
        | None
    ) = None


class CustomerMessageIn(_Strict):
    message_id: PublicId
    text: Annotated[str, StringConstraints(min_length=1, max_length=20_000)]
    at: datetime | None = None
