"""StripePayments against the Stripe stand-in (checked against Stripe's OpenAPI spec):
refunds in minor units, payment errors, idempotent replays and how failures are mapped."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from integrations.errors import RateLimited, Rejected, Unavailable
from integrations.payments.protocol import (
    PaymentRejected,
    RefundReason,
    RefundRequest,
    RefundResult,
    RefundStatus,
)
from integrations.payments.stripe import StripePayments
from tests.support.scripted_http import MakeClient
from tests.support.stripe_standin import API_KEY, StripeStandIn

KEY = "refund:apr-7:v1"


def ask(payment_id: str = "pi_123", amount: int = 1500, currency: str = "usd") -> RefundRequest:
    return RefundRequest(
        payment_id=payment_id,
        amount_minor=amount,
        currency=currency,
        reason=RefundReason.DUPLICATE,
        metadata={"deskhand_request": "apr-7", "approved_by": "U42"},
    )


@pytest.fixture
async def standin() -> AsyncIterator[StripeStandIn]:
    server = StripeStandIn()
    await server.start()
    server.add_payment("pi_123", 1500, "usd")
    server.add_payment("ch_456", 5000, "eur")
    yield server
    assert server.violations == []
    await server.stop()


@pytest.fixture
async def stripe(standin: StripeStandIn, make_client: MakeClient) -> StripePayments:
    http = await make_client(timeout=2.0, max_attempts=3, backoff_base=0.01)
    return StripePayments(http, url=standin.url, api_key=API_KEY)


async def test_a_full_refund_of_a_payment_intent(
    stripe: StripePayments, standin: StripeStandIn
) -> None:
    result = await stripe.refund(ask(), idempotency_key=KEY)

    assert result == RefundResult(standin.refunds[0]["id"], RefundStatus.SUCCEEDED, 1500, "usd")
    [call] = standin.calls
    assert call.headers["Authorization"] == f"Bearer {API_KEY}"
    assert call.headers["Stripe-Version"] == "2023-08-16"
    assert call.headers["Idempotency-Key"] == KEY
    assert call.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert dict(call.form) == {
        "payment_intent": "pi_123",
        "amount": "1500",
        "reason": "duplicate",
        "metadata[approved_by]": "U42",
        "metadata[deskhand_request]": "apr-7",
    }
    assert standin.refunds[0]["metadata"] == {"deskhand_request": "apr-7", "approved_by": "U42"}


async def test_partial_refunds_of_a_charge_until_nothing_is_left(
    stripe: StripePayments, standin: StripeStandIn
) -> None:
    first = await stripe.refund(ask("ch_456", 2000, "eur"), idempotency_key="k1")
    second = await stripe.refund(ask("ch_456", 3000, "eur"), idempotency_key="k2")

    assert (first.amount_minor, second.amount_minor) == (2000, 3000)
    assert first.refund_id != second.refund_id
    assert dict(standin.calls[0].form)["charge"] == "ch_456"
    assert "payment_intent" not in dict(standin.calls[0].form)
    with pytest.raises(PaymentRejected) as caught:
        await stripe.refund(ask("ch_456", 1, "eur"), idempotency_key="k3")
    assert caught.value.code == "charge_already_refunded"
    assert caught.value.status == 400
    assert [r["amount"] for r in standin.refunds] == [2000, 3000]


@pytest.mark.parametrize(("currency", "amount"), [("jpy", 1500), ("kwd", 12345)])
async def test_minor_units_go_through_unchanged(
    stripe: StripePayments, standin: StripeStandIn, currency: str, amount: int
) -> None:
    """JPY has no decimals and KWD three: the integer is never scaled or made a float."""
    standin.add_payment("pi_zero_or_three", amount, currency)

    result = await stripe.refund(ask("pi_zero_or_three", amount, currency), idempotency_key=KEY)

    assert dict(standin.calls[0].form)["amount"] == str(amount)
    assert (result.amount_minor, result.currency) == (amount, currency)
    assert type(result.amount_minor) is int


async def test_more_than_is_left_is_amount_too_large(
    stripe: StripePayments, standin: StripeStandIn
) -> None:
    with pytest.raises(PaymentRejected) as caught:
        await stripe.refund(ask(amount=1501), idempotency_key=KEY)

    assert caught.value.code == "amount_too_large"
    assert "greater than unrefunded" in caught.value.message
    assert standin.refunds == []


async def test_an_unknown_payment_is_resource_missing(
    stripe: StripePayments, standin: StripeStandIn
) -> None:
    with pytest.raises(PaymentRejected) as caught:
        await stripe.refund(ask("pi_nope"), idempotency_key=KEY)

    assert (caught.value.code, caught.value.status) == ("resource_missing", 404)
    assert "pi_nope" in caught.value.message


async def test_an_error_is_replayed_for_the_same_key(
    stripe: StripePayments, standin: StripeStandIn
) -> None:
    with pytest.raises(PaymentRejected):
        await stripe.refund(ask("pi_later"), idempotency_key=KEY)
    standin.add_payment("pi_later", 1500, "usd")  # too late: the key's answer is stored

    with pytest.raises(PaymentRejected) as caught:
        await stripe.refund(ask("pi_later"), idempotency_key=KEY)

    assert caught.value.code == "resource_missing"
    assert standin.refunds == []


async def test_a_lost_answer_is_retried_and_refunds_exactly_once(
    stripe: StripePayments, standin: StripeStandIn
) -> None:
    standin.lose_next()

    result = await stripe.refund(ask(), idempotency_key=KEY)

    assert len(standin.refunds) == 1
    assert result.refund_id == standin.refunds[0]["id"]
    assert [c.headers["Idempotency-Key"] for c in standin.calls] == [KEY, KEY]
    assert [c.status for c in standin.calls] == [-1, 200]
    # Asked again later (a restart, a duplicate approval): still the one refund.
    assert await stripe.refund(ask(), idempotency_key=KEY) == result
    assert len(standin.refunds) == 1


async def test_the_same_key_with_another_amount_is_refused(
    stripe: StripePayments, standin: StripeStandIn
) -> None:
    await stripe.refund(ask(amount=500), idempotency_key=KEY)

    with pytest.raises(PaymentRejected) as caught:
        await stripe.refund(ask(amount=600), idempotency_key=KEY)

    assert caught.value.code == "idempotency_error"
    assert [r["amount"] for r in standin.refunds] == [500]
    assert KEY not in str(caught.value) + caught.value.body  # Stripe quotes it; errors get logged


async def test_one_500_is_retried_with_the_same_key(
    stripe: StripePayments, standin: StripeStandIn
) -> None:
    standin.fail_next(1, 500)

    await stripe.refund(ask(), idempotency_key=KEY)

    assert [c.status for c in standin.calls] == [500, 200]
    assert len(standin.refunds) == 1


async def test_500s_429s_and_a_dead_host_are_transport_errors(
    stripe: StripePayments, standin: StripeStandIn
) -> None:
    standin.fail_next(3, 500)
    with pytest.raises(Unavailable):
        await stripe.refund(ask(), idempotency_key=KEY)

    standin.fail_next(3, 429, retry_after=7)
    with pytest.raises(RateLimited) as limited:
        await stripe.refund(ask(), idempotency_key=KEY)
    assert limited.value.retry_after == 7

    standin.go_down()
    with pytest.raises(Unavailable) as down:
        await stripe.refund(ask(), idempotency_key=KEY)
    assert not isinstance(down.value, PaymentRejected)
    await standin.come_back()
    assert standin.refunds == []


async def test_a_wrong_api_key_is_rejected_but_not_a_payment_error(
    standin: StripeStandIn, make_client: MakeClient
) -> None:
    http = await make_client(max_attempts=1)
    stripe = StripePayments(http, url=standin.url, api_key="sk_test_wrong")

    with pytest.raises(Rejected) as caught:
        await stripe.refund(ask(), idempotency_key=KEY)

    assert caught.value.status == 401
    assert not isinstance(caught.value, PaymentRejected)
    assert "sk_test_wrong" not in repr(stripe)


async def test_the_standin_lists_requests_that_break_the_spec(standin: StripeStandIn) -> None:
    async with aiohttp.ClientSession() as session:
        headers = {
            "Authorization": f"Bearer {API_KEY}",
            "Stripe-Version": "2023-08-16",
            "Idempotency-Key": "x",
        }
        for form in ({"charge": "ch_456", "amount": "1.5"}, {"charge": "ch_456", "amont": "1"}):
            async with session.post(f"{standin.url}/v1/refunds", data=form, headers=headers) as r:
                assert r.status == 400
        async with session.get(f"{standin.url}/v1/refunds/re_none", headers=headers) as r:
            assert r.status == 404
    assert len(standin.violations) == 2
    assert standin.refunds == []
    standin.violations.clear()  # seen; the fixture checks the list is empty
