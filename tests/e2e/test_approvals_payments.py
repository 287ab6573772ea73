"""Refunds at the spec-checked Stripe stand-in: exactly once through timeouts, outages and a
process stopped between the payment call and recording it; provider refusals become
`failed`; the agent's callbacks survive its endpoint being down."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from bot.approvals.actions import ApprovalAction
from bot.clock import FakeClock
from integrations.payments.protocol import Payments, RefundRequest, RefundResult
from integrations.payments.stripe import StripePayments
from tests.support.approvals_e2e import APPROVER, PAYMENT, approval_desk, approval_standins
from tests.support.stripe_standin import API_KEY


def _form(call_form: list[tuple[str, str]]) -> dict[str, str]:
    return dict(call_form)


async def test_stripe_refund_carries_the_request_and_its_key(database_url: str) -> None:
    async with approval_desk(database_url, payments="stripe") as h:
        await h.ask()
        await h.desk.settle()
        await h.click(ApprovalAction.APPROVE, APPROVER)
        await h.desk.settle()
        assert h.stripe is not None
        posts = [c for c in h.stripe.calls if c.method == "POST"]
        assert len(posts) == 1
        assert posts[0].headers["Idempotency-Key"] == "deskhand-refund-apr-1"
        form = _form(posts[0].form)
        assert (form["payment_intent"], form["amount"], form["reason"]) == (
            PAYMENT,
            "1250",
            "duplicate",
        )
        assert [r["amount"] for r in h.stripe.refunds] == [1250]
        assert h.statuses() == ["approved", "executed"]
        assert h.decisions()[-1]["result"]["refund_id"] == h.stripe.refunds[0]["id"]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"amount_minor": 6000}, "amount_too_large"),
        ({"payment_id": "pi_unknownPayment"}, "resource_missing"),
    ],
)
async def test_a_refused_refund_is_failed_with_the_providers_reason(
    database_url: str, params: dict[str, object], code: str
) -> None:
    async with approval_desk(database_url, payments="stripe") as h:
        await h.ask(params=params)
        await h.desk.settle()
        await h.click(ApprovalAction.APPROVE, APPROVER)
        await h.desk.settle()
        assert h.stripe is not None and h.stripe.refunds == []
        assert h.statuses() == ["approved", "failed"]
        failed = h.decisions()[-1]
        assert failed["result"]["error"]["code"] == code
        status, polled = await h.poll()
        assert (status, polled["status"]) == (200, "failed")
        message = h.message()
        assert message is not None and code in str(message["blocks"])
        assert h.buttons() == []


async def test_already_refunded_payment_fails_the_second_request(database_url: str) -> None:
    async with approval_desk(database_url, payments="stripe") as h:
        await h.ask(params={"amount_minor": 5000})
        await h.ask(request_id="apr-2", params={"amount_minor": 100})
        await h.desk.settle()
        await h.click(ApprovalAction.APPROVE, APPROVER)
        await h.click(ApprovalAction.APPROVE, APPROVER, request_id="apr-2")
        await h.desk.settle()
        assert h.statuses("apr-1") == ["approved", "executed"]
        assert h.statuses("apr-2") == ["approved", "failed"]
        assert h.decisions("apr-2")[-1]["result"]["error"]["code"] == "charge_already_refunded"


async def test_a_lost_answer_is_retried_with_the_same_key_and_refunds_once(
    database_url: str,
) -> None:
    async with approval_desk(database_url, payments="stripe") as h:
        await h.ask()
        await h.desk.settle()
        assert h.stripe is not None
        h.stripe.lose_next(2)  # refunded, but deskhand never hears it, twice
        await h.click(ApprovalAction.APPROVE, APPROVER)
        for _ in range(6):
            await h.desk.advance_ready(120)
        keys = {c.headers["Idempotency-Key"] for c in h.stripe.calls if c.method == "POST"}
        assert keys == {"deskhand-refund-apr-1"}
        assert len([c for c in h.stripe.calls if c.method == "POST"]) >= 2
        assert len(h.stripe.refunds) == 1
        assert h.statuses() == ["approved", "executed"]


async def test_stripe_down_keeps_it_approved_until_it_is_back(database_url: str) -> None:
    async with approval_desk(database_url, payments="stripe") as h:
        await h.ask()
        await h.desk.settle()
        assert h.stripe is not None
        h.stripe.go_down()
        await h.click(ApprovalAction.APPROVE, APPROVER)
        await h.desk.advance_ready(30)
        assert (await h.poll())[1]["status"] == "approved"
        assert h.statuses() == ["approved"]
        await h.stripe.come_back()
        for _ in range(8):
            await h.desk.advance_ready(120)
        assert len(h.stripe.refunds) == 1
        assert h.statuses() == ["approved", "executed"]


async def test_callbacks_are_retried_while_the_agent_is_down(database_url: str) -> None:
    async with approval_desk(database_url) as h:
        await h.ask()
        await h.desk.settle()
        h.agent.fail_next(4)
        await h.click(ApprovalAction.APPROVE, APPROVER)
        for _ in range(8):
            await h.desk.advance_ready(120)
        assert len(h.agent.received) >= 6  # the failures, then each callback
        assert h.statuses() == ["approved", "executed"]  # each once, in order
        keys = [c.idempotency_key for c in h.agent.callbacks]
        assert keys == ["approval:apr-1:approved", "approval:apr-1:executed"]
        assert all(c.signature_ok for c in h.agent.received)


class _StopsAfterPaying:
    """Stripe, but the process stops right after Stripe answered: the effect never
    returns, so nothing records the refund (the row stays leased to the stopped app)."""

    system = "stripe"

    def __init__(self) -> None:
        self.inner: Payments | None = None
        self.paid = asyncio.Event()

    async def refund(self, request: RefundRequest, *, idempotency_key: str) -> RefundResult:
        assert self.inner is not None
        await self.inner.refund(request, idempotency_key=idempotency_key)
        self.paid.set()
        await asyncio.Event().wait()  # cancelled when the app stops
        raise AssertionError("unreachable")


async def test_stopped_after_paying_and_before_recording_refunds_once(
    database_url: str,
) -> None:
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    async with approval_standins(clock, "stripe") as shared:
        assert shared.stripe is not None
        stopping = _StopsAfterPaying()
        async with approval_desk(
            database_url, clock=clock, shared=shared, payments_impl=stopping
        ) as first:
            stopping.inner = StripePayments(first.app.http, url=shared.stripe.url, api_key=API_KEY)
            await first.ask()
            await first.desk.settle()
            await first.click(ApprovalAction.APPROVE, APPROVER)
            first.app.dispatcher.wake()
            await asyncio.wait_for(stopping.paid.wait(), 10)
        assert len(shared.stripe.refunds) == 1
        assert [d["status"] for d in shared.agent.of_type("approval_decision")] == ["approved"]

        async with approval_desk(database_url, clock=clock, shared=shared) as second:
            await second.desk.advance(130)  # past the stopped app's lease
            assert len(shared.stripe.refunds) == 1
            keys = [c.headers["Idempotency-Key"] for c in shared.stripe.calls if c.method == "POST"]
            assert keys == ["deskhand-refund-apr-1", "deskhand-refund-apr-1"]
            assert second.statuses() == ["approved", "executed"]
            async with second.app.db.uow() as uow:
                stored = await uow.approvals.get("apr-1")
            assert stored is not None and stored.status == "executed"
            assert stored.result is not None
            assert stored.result["refund_id"] == shared.stripe.refunds[0]["id"]
