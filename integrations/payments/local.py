"""The built-in payments fake: in memory and deterministic, for the demo and tests.

It behaves like Stripe where deskhand can tell: refunds are bounded by what is left of the
payment, a repeat of an idempotency key returns the first outcome (errors too), and the
same key with a different request is an ``idempotency_error``. Nothing leaves the process.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from integrations.payments.protocol import (
    PaymentRejected,
    RefundRequest,
    RefundResult,
    RefundStatus,
)

__all__ = ["LocalPayments", "LocalRefund"]

SYSTEM = "local"


@dataclass(frozen=True)
class LocalRefund:
    """One refund really made (replays are not recorded again)."""

    refund_id: str
    payment_id: str
    amount_minor: int
    currency: str
    reason: str
    metadata: dict[str, str]
    idempotency_key: str


@dataclass(frozen=True)
class _Outcome:
    request: RefundRequest
    result: RefundResult | None = None
    code: str = ""
    message: str = ""
    status: int = 400


class LocalPayments:
    system = SYSTEM

    def __init__(
        self, payments: Mapping[str, tuple[int, str]] | None = None, *, trust_unknown: bool = False
    ) -> None:
        """``payments``: payment_id -> (amount_minor, currency) of the payments it knows.
        ``trust_unknown`` (the demo's `local` payments): a payment it has never seen is
        taken to be exactly as large as its first refund, so a second one is refused."""
        self._trust_unknown = trust_unknown
        self._payments = {
            pid: (int(amount), currency) for pid, (amount, currency) in (payments or {}).items()
        }
        self._refunded: dict[str, int] = {}  # payment_id -> minor units refunded
        self._outcomes: dict[str, _Outcome] = {}
        self.refunds: list[LocalRefund] = []

    def add_payment(self, payment_id: str, amount_minor: int, currency: str) -> None:
        self._payments[payment_id] = (amount_minor, currency)

    def refunded(self, payment_id: str) -> int:
        """How much of the payment has been refunded so far, in minor units."""
        return self._refunded.get(payment_id, 0)

    async def refund(self, request: RefundRequest, *, idempotency_key: str) -> RefundResult:
        if not idempotency_key:
            raise ValueError("idempotency_key is required")
        outcome = self._outcomes.get(idempotency_key)
        if outcome is None:
            outcome = self._outcomes[idempotency_key] = self._execute(request, idempotency_key)
        elif outcome.request != request:
            raise PaymentRejected(
                SYSTEM,
                "Keys for idempotent requests can only be used with the same parameters "
                "they were first used with.",
                code="idempotency_error",
            )
        if outcome.result is None:
            raise PaymentRejected(SYSTEM, outcome.message, code=outcome.code, status=outcome.status)
        return outcome.result

    def _execute(self, request: RefundRequest, key: str) -> _Outcome:
        known = self._payments.get(request.payment_id)
        if known is None and self._trust_unknown:
            known = self._payments[request.payment_id] = (request.amount_minor, request.currency)
        if known is None:
            kind = "payment_intent" if request.is_payment_intent else "charge"
            message = f"No such {kind}: '{request.payment_id}'"
            return _Outcome(request, code="resource_missing", message=message, status=404)
        amount, currency = known
        if request.currency != currency:
            message = f"The payment is in {currency}, not {request.currency}."
            return _Outcome(request, code="currency_mismatch", message=message)
        left = amount - self.refunded(request.payment_id)
        if left <= 0:
            message = f"Charge {request.payment_id} has already been refunded."
            return _Outcome(request, code="charge_already_refunded", message=message)
        if request.amount_minor > left:
            message = (
                f"Refund amount ({request.amount_minor} {currency}) is greater than the "
                f"unrefunded amount on the payment ({left} {currency})."
            )
            return _Outcome(request, code="amount_too_large", message=message)
        refund_id = f"re_local_{len(self.refunds) + 1:06d}"
        self._refunded[request.payment_id] = amount - left + request.amount_minor
        self.refunds.append(
            LocalRefund(
                refund_id,
                request.payment_id,
                request.amount_minor,
                currency,
                str(request.reason),
                dict(request.metadata),
                key,
            )
        )
        result = RefundResult(refund_id, RefundStatus.SUCCEEDED, request.amount_minor, currency)
        return _Outcome(request, result=result)
