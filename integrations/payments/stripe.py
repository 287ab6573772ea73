"""Refunds through Stripe: ``POST /v1/refunds`` (API version pinned to 2023-08-16).

Exactly-once rests on Stripe's ``Idempotency-Key``: it stores the status and body of the
first request per key and replays them, errors and 500s included, so the shared client's
retries (``resend_on_doubt=True``) cannot refund twice. The key and the API key are never
logged: the HTTP client logs no headers, and nothing here logs them.

Bodies are form-encoded (Stripe takes no JSON); metadata goes deepObject style
(``metadata[key]=value``). The refund's currency is the payment's: Stripe takes no currency
for a payment refund, so the result carries the currency Stripe reports and the caller
compares it with the one approved.
"""

from __future__ import annotations

import json
from typing import Any

import structlog

from integrations.errors import Conflict, Rejected, Unavailable
from integrations.http import HttpClient
from integrations.payments.protocol import (
    PaymentRejected,
    RefundRequest,
    RefundResult,
    RefundStatus,
)

__all__ = ["API_VERSION", "StripePayments"]

log = structlog.get_logger(__name__)

SYSTEM = "stripe"
API_VERSION = "2023-08-16"
MAX_KEY_CHARS = 255  # Stripe's limit on Idempotency-Key
_PAYMENT_ERRORS = frozenset({400, 402, 404})


class StripePayments:
    system = SYSTEM

    def __init__(
        self, http: HttpClient, *, url: str = "https://api.stripe.com", api_key: str
    ) -> None:
        if not api_key:
            raise ValueError("api_key is required")
        self._http = http
        self._base = url.rstrip("/")
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Stripe-Version": API_VERSION,
            "Accept": "application/json",
        }

    def __repr__(self) -> str:  # never the key
        return f"StripePayments(url={self._base!r})"

    async def refund(self, request: RefundRequest, *, idempotency_key: str) -> RefundResult:
        if not 0 < len(idempotency_key) <= MAX_KEY_CHARS:
            raise ValueError(f"idempotency_key must be 1..{MAX_KEY_CHARS} characters")
        try:
            response = await self._http.request(
                "POST",
                f"{self._base}/v1/refunds",
                system=SYSTEM,
                data=refund_form(request),
                headers=self._headers,
                idempotency_key=idempotency_key,
                resend_on_doubt=True,  # Stripe replays the first answer for the key
            )
        except Conflict as exc:
            # 409: a request with this key is still in flight; nothing was stored for this
            # one, so trying again later is safe.
            raise Unavailable(SYSTEM, f"refund in flight: {exc.message}") from exc
        except Rejected as exc:
            if exc.status in _PAYMENT_ERRORS:
                raise payment_error(exc, idempotency_key) from exc
            raise  # 401/403 and the like: a configuration problem, not a payment one
        try:
            result = parse_refund(response.json())
        except (ValueError, KeyError, TypeError) as exc:
            raise Unavailable(SYSTEM, "unreadable refund in Stripe's answer") from exc
        if result.currency != request.currency or result.amount_minor != request.amount_minor:
            log.error(
                "payments.refund_differs",
                system=SYSTEM,
                refund_id=result.refund_id,
                asked=f"{request.amount_minor} {request.currency}",
                got=f"{result.amount_minor} {result.currency}",
            )
        log.info(
            "payments.refund",
            system=SYSTEM,
            payment_id=request.payment_id,
            refund_id=result.refund_id,
            status=str(result.status),
        )
        return result


def refund_form(request: RefundRequest) -> dict[str, str]:
    """The form fields of a refund; the amount is sent as the integer it is."""
    target = "payment_intent" if request.is_payment_intent else "charge"
    form = {
        target: request.payment_id,
        "amount": str(request.amount_minor),
        "reason": str(request.reason),
    }
    for key, value in sorted(request.metadata.items()):
        form[f"metadata[{key}]"] = value
    return form


def parse_refund(body: Any) -> RefundResult:
    amount = body["amount"]
    if type(amount) is not int:
        raise ValueError("amount is not an integer")
    # status is nullable in the spec: a refund without one has not settled yet.
    status = RefundStatus(body.get("status") or RefundStatus.PENDING)
    return RefundResult(str(body["id"]), status, amount, str(body["currency"]).lower())


def payment_error(exc: Rejected, idempotency_key: str) -> PaymentRejected:
    """Stripe's ``{"error": {"type", "code", "message"}}`` as PaymentRejected; an error
    without a code (``idempotency_error``) is known by its type. Stripe quotes the key in
    an ``idempotency_error`` message: it is redacted, since errors end up in logs."""
    try:
        error = json.loads(exc.body).get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    if not isinstance(error, dict):
        error = {}
    code = error.get("code") or error.get("decline_code") or error.get("type") or "unknown"
    message = error.get("message") or f"Stripe refused the refund (HTTP {exc.status})"
    message = str(message).replace(idempotency_key, "[redacted]")
    body = exc.body.replace(idempotency_key, "[redacted]")
    return PaymentRejected(SYSTEM, message, code=str(code), status=exc.status, body=body)
