"""The payments capability every provider (local, stripe) offers: one refund, exactly once.

Amounts are integers in the currency's minor unit (cents, yen, fils) everywhere; a float
never gets near money. Exactly-once rests on ``idempotency_key``: the caller derives it from
the approved request, and the provider answers a repeat with the first outcome, errors too.

Errors: a refund the provider refused (already refunded, amount too large, unknown payment,
card error, key reused with other parameters) is ``PaymentRejected`` with the provider's
``code``; transport problems stay ``Unavailable``/``RateLimited`` from integrations.errors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from integrations.errors import Rejected

__all__ = [
    "PaymentRejected",
    "Payments",
    "RefundReason",
    "RefundRequest",
    "RefundResult",
    "RefundStatus",
]

_CURRENCY = re.compile(r"^[a-z]{3}$")
_PAYMENT_PREFIXES = ("pi_", "ch_")
# Stripe's metadata limits; the brackets would break the deepObject form encoding.
_MAX_METADATA_KEYS = 50
_MAX_KEY_CHARS = 40
_MAX_VALUE_CHARS = 500


class RefundReason(StrEnum):
    DUPLICATE = "duplicate"
    FRAUDULENT = "fraudulent"
    REQUESTED_BY_CUSTOMER = "requested_by_customer"


class RefundStatus(StrEnum):
    SUCCEEDED = "succeeded"
    PENDING = "pending"
    FAILED = "failed"
    CANCELED = "canceled"
    REQUIRES_ACTION = "requires_action"


@dataclass(frozen=True)
class RefundRequest:
    """One refund of ``amount_minor`` (> 0, minor units) of a payment intent or charge."""

    payment_id: str  # "pi_…" (payment intent) or "ch_…" (charge)
    amount_minor: int
    currency: str  # lowercase ISO 4217, e.g. "usd", "jpy", "kwd"
    reason: RefundReason
    metadata: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.payment_id.startswith(_PAYMENT_PREFIXES) or len(self.payment_id) <= 3:
            raise ValueError("payment_id must be a payment intent (pi_…) or a charge (ch_…)")
        # bool is an int subclass and a float is never money: both refused.
        if type(self.amount_minor) is not int or self.amount_minor <= 0:
            raise ValueError("amount_minor must be a positive int in the minor unit")
        if not _CURRENCY.match(self.currency):
            raise ValueError("currency must be a lowercase three-letter ISO code")
        object.__setattr__(self, "reason", RefundReason(self.reason))
        if len(self.metadata) > _MAX_METADATA_KEYS:
            raise ValueError(f"at most {_MAX_METADATA_KEYS} metadata keys")
        for key, value in self.metadata.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise ValueError("metadata keys and values must be strings")
            if not 0 < len(key) <= _MAX_KEY_CHARS or "[" in key or "]" in key:
                raise ValueError(f"bad metadata key {key!r}")
            if len(value) > _MAX_VALUE_CHARS:
                raise ValueError(f"metadata value of {key!r} is too long")

    @property
    def is_payment_intent(self) -> bool:
        return self.payment_id.startswith("pi_")


@dataclass(frozen=True)
class RefundResult:
    refund_id: str
    status: RefundStatus
    amount_minor: int
    currency: str


class PaymentRejected(Rejected):
    """The provider refused the refund; retrying it unchanged will not help.

    ``code`` is the provider's error code (``charge_already_refunded``, ``amount_too_large``,
    ``resource_missing``, ``idempotency_error``, a card decline code, …); ``message`` is its
    human-readable explanation, fit to show an approver.
    """

    def __init__(
        self, system: str, message: str, *, code: str, status: int = 400, body: str = ""
    ) -> None:
        super().__init__(system, message, status=status, body=body)
        self.code = code

    def __str__(self) -> str:
        return f"[{self.system}] {self.code}: {self.message}"


class Payments(Protocol):
    system: str

    async def refund(self, request: RefundRequest, *, idempotency_key: str) -> RefundResult:
        """Refund once per key: a repeat returns the first result or raises the first error.
        The same key with a different request raises PaymentRejected("idempotency_error")."""
        ...
