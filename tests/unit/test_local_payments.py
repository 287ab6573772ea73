"""LocalPayments, the built-in fake, and RefundRequest's own checks: the same cases as
the Stripe tests, so the demo behaves like production."""

from __future__ import annotations

import pytest

from integrations.payments.local import LocalPayments
from integrations.payments.protocol import (
    PaymentRejected,
    Payments,
    RefundReason,
    RefundRequest,
    RefundResult,
    RefundStatus,
)

KEY = "refund:apr-7:v1"


def ask(payment_id: str = "pi_123", amount: int = 1500, currency: str = "usd") -> RefundRequest:
    return RefundRequest(payment_id, amount, currency, RefundReason.DUPLICATE, {"req": "apr-7"})


@pytest.fixture
def local() -> LocalPayments:
    return LocalPayments(
        {
            "pi_123": (1500, "usd"),
            "ch_456": (5000, "eur"),
            "pi_jpy": (1500, "jpy"),
            "pi_kwd": (12345, "kwd"),
        }
    )


def test_it_is_a_payments_provider(local: LocalPayments) -> None:
    provider: Payments = local
    assert provider.system == "local"


async def test_a_full_refund(local: LocalPayments) -> None:
    result = await local.refund(ask(), idempotency_key=KEY)

    assert result == RefundResult("re_local_000001", RefundStatus.SUCCEEDED, 1500, "usd")
    [refund] = local.refunds
    assert (refund.payment_id, refund.amount_minor, refund.idempotency_key) == ("pi_123", 1500, KEY)
    assert (refund.reason, refund.metadata) == ("duplicate", {"req": "apr-7"})


async def test_partial_refunds_until_nothing_is_left(local: LocalPayments) -> None:
    await local.refund(ask("ch_456", 2000, "eur"), idempotency_key="k1")
    await local.refund(ask("ch_456", 3000, "eur"), idempotency_key="k2")

    assert local.refunded("ch_456") == 5000
    with pytest.raises(PaymentRejected) as caught:
        await local.refund(ask("ch_456", 1, "eur"), idempotency_key="k3")
    assert caught.value.code == "charge_already_refunded"
    assert [r.amount_minor for r in local.refunds] == [2000, 3000]


@pytest.mark.parametrize(
    ("payment_id", "amount", "currency"), [("pi_jpy", 1500, "jpy"), ("pi_kwd", 12345, "kwd")]
)
async def test_minor_units_are_kept_as_given(
    local: LocalPayments, payment_id: str, amount: int, currency: str
) -> None:
    result = await local.refund(ask(payment_id, amount, currency), idempotency_key=KEY)

    assert (result.amount_minor, result.currency) == (amount, currency)
    assert type(result.amount_minor) is int


async def test_too_much_unknown_and_wrong_currency_are_refused(local: LocalPayments) -> None:
    cases = [
        (ask(amount=1501), "amount_too_large", 400),
        (ask("pi_nope"), "resource_missing", 404),
        (ask(currency="eur"), "currency_mismatch", 400),
    ]
    for n, (request, code, status) in enumerate(cases):
        with pytest.raises(PaymentRejected) as caught:
            await local.refund(request, idempotency_key=f"k{n}")
        assert (caught.value.code, caught.value.status) == (code, status)
        assert caught.value.message
    assert local.refunds == []


async def test_the_same_key_returns_the_first_outcome(local: LocalPayments) -> None:
    first = await local.refund(ask(amount=500), idempotency_key=KEY)
    assert await local.refund(ask(amount=500), idempotency_key=KEY) == first
    assert len(local.refunds) == 1

    with pytest.raises(PaymentRejected) as caught:
        await local.refund(ask(amount=600), idempotency_key=KEY)
    assert caught.value.code == "idempotency_error"
    assert len(local.refunds) == 1


async def test_an_error_is_raised_again_for_the_same_key(local: LocalPayments) -> None:
    with pytest.raises(PaymentRejected):
        await local.refund(ask("pi_later"), idempotency_key=KEY)
    local.add_payment("pi_later", 1500, "usd")

    with pytest.raises(PaymentRejected) as caught:
        await local.refund(ask("pi_later"), idempotency_key=KEY)

    assert caught.value.code == "resource_missing"
    assert local.refunds == []


@pytest.mark.parametrize(
    "changes",
    [
        {"amount_minor": 0},
        {"amount_minor": -5},
        {"amount_minor": 15.0},
        {"amount_minor": True},
        {"payment_id": "in_123"},
        {"currency": "USD"},
        {"currency": "usdx"},
        {"reason": "because"},
        {"metadata": {"a[b]": "x"}},
        {"metadata": {"a": 1}},
    ],
)
def test_a_malformed_request_cannot_be_built(changes: dict[str, object]) -> None:
    fields: dict[str, object] = {
        "payment_id": "pi_1",
        "amount_minor": 100,
        "currency": "usd",
        "reason": "duplicate",
        "metadata": {},
    }
    with pytest.raises(ValueError):
        RefundRequest(**{**fields, **changes})  # type: ignore[arg-type]


def test_a_reason_given_as_text_becomes_the_enum() -> None:
    request = RefundRequest("ch_1", 1, "usd", "fraudulent")  # type: ignore[arg-type]
    assert request.reason is RefundReason.FRAUDULENT
