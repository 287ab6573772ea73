"""The AI agent's approval request, and the decision deskhand reports back.

`ApprovalIn` is the body of `POST /webhooks/approvals`; `DecisionOut` is the answer of
`GET /api/approvals/{request_id}`, and `DecisionCallbackOut` the `approval_decision` callback
sent to `DESKHAND_AGENT_CALLBACK_URL` (see /work/shared/contract.md).

Money is never a float: `amount_minor` is a strict JSON integer of ISO 4217 minor units, so
12.5, 1250.0 and "1250" are all refused rather than coerced.

Unknown top-level fields are ignored (house style: agents may add fields, the contract grows
by addition). Unknown fields in `customer` are ignored too. Unknown fields in `params` are
refused: params are exactly what will be executed, and a parameter deskhand does not know
(a misspelt `amount`, an `application_fee` flag) means the agent wants something other than
what an approver would be shown and deskhand would do.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StrictInt,
    StringConstraints,
)

from bot.approvals.money import minor_unit_exponent
from bot.bounded import Bounded
from storage.limits import EMAIL, PUBLIC_ID

# Above this an amount loses precision in a JavaScript agent (2**53 - 1): refused.
MAX_AMOUNT_MINOR = 9_007_199_254_740_991

PublicId = Annotated[str, Bounded(PUBLIC_ID, min_length=1, pattern=r"^[A-Za-z0-9:_.\-]+$")]
JUSTIFICATION = 5_000
PaymentId = Annotated[
    str, StringConstraints(min_length=4, max_length=255, pattern=r"^(pi|ch)_[A-Za-z0-9]+$")
]
RefundReason = Literal["duplicate", "fraudulent", "requested_by_customer"]


def _known_currency(currency: str) -> str:
    minor_unit_exponent(currency)  # ValueError -> a validation error naming the field
    return currency


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be blank")
    return text


Currency = Annotated[
    str, StringConstraints(max_length=3, pattern=r"^[a-z]{3}$"), AfterValidator(_known_currency)
]
Text = Annotated[str, AfterValidator(_not_blank)]


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXECUTED = "executed"
    FAILED = "failed"
    EXPIRED = "expired"


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False, frozen=True)


class ApprovalCustomer(_In):
    id: Annotated[str, Bounded(PUBLIC_ID, min_length=1)]
    email: Annotated[str, Bounded(EMAIL)] | None = None


class RefundParams(_In):
    model_config = ConfigDict(extra="forbid", frozen=True)

    payment_id: PaymentId
    amount_minor: Annotated[StrictInt, Field(gt=0, le=MAX_AMOUNT_MINOR)]
    currency: Currency
    reason: RefundReason


class ApprovalIn(_In):
    request_id: PublicId
    action: Literal["refund"]
    requested_by: Annotated[Text, Bounded(PUBLIC_ID, min_length=1)]
    handoff_id: PublicId | None = None
    customer: ApprovalCustomer
    params: RefundParams
    justification: Annotated[Text, Bounded(JUSTIFICATION, min_length=1)]


class DecisionOut(BaseModel):
    """`GET /api/approvals/{request_id}`; optional fields are left out when unset."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    request_id: str
    status: ApprovalStatus
    decided_by: str | None = None
    decision_reason: str | None = None
    # What running the action gave (e.g. the refund id) or why it failed; set with
    # `executed` and `failed`.
    result: dict[str, JsonValue] | None = None
    # Extensions: the amount approved (smaller than asked for a partial refund), and every
    # approver in order (two above DESKHAND_DUAL_APPROVAL_ABOVE).
    approved_amount_minor: int | None = None
    approved_by: list[str] | None = None

    def to_json(self) -> dict[str, JsonValue]:
        """The JSON body: enum as its value, absent optional fields omitted (not null)."""
        body: dict[str, JsonValue] = self.model_dump(mode="json", exclude_none=True)
        return body


class DecisionCallbackOut(DecisionOut):
    """The `approval_decision` callback: one for each status the request reaches."""

    type: Literal["approval_decision"] = "approval_decision"
