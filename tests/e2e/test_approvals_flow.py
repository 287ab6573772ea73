"""Refund approvals end to end: an agent asks, approvers decide in Slack, the refund runs
once, the agent hears every status. Signed requests in; stand-ins record what went out."""

from __future__ import annotations

import pytest

from bot.approvals.actions import ApprovalAction, ApprovalBlock, ApprovalModal
from storage.models import Approval, ApprovalEvent
from tests.support.approvals_e2e import (
    APPROVER,
    PAYMENT,
    approval_desk,
)


async def test_approve_runs_the_refund_once_and_tells_the_agent(database_url: str) -> None:
    async with approval_desk(database_url) as h:
        status, body = await h.ask()
        assert (status, body) == (202, {"request_id": "apr-1", "status": "pending"})
        await h.desk.settle()
        message = h.message()
        assert message is not None
        assert "USD 12.50" in str(message["blocks"])
        assert h.buttons() == [
            ApprovalAction.APPROVE,
            ApprovalAction.APPROVE_PARTIAL,
            ApprovalAction.REJECT,
        ]

        assert await h.click(ApprovalAction.APPROVE, APPROVER) == 200
        await h.desk.settle()

        assert h.local is not None
        assert [(r.payment_id, r.amount_minor, r.idempotency_key) for r in h.local.refunds] == [
            (PAYMENT, 1250, "deskhand-refund-apr-1")
        ]
        assert h.statuses() == ["approved", "executed"]
        executed = h.decisions()[-1]
        assert executed["decided_by"] == APPROVER[0]
        assert executed["result"]["refund_id"] == h.local.refunds[0].refund_id
        assert executed["result"]["amount_minor"] == 1250
        assert executed["result"]["partial"] is False
        assert h.buttons() == []
        status, polled = await h.poll()
        assert status == 200
        assert polled["status"] == "executed"
        assert polled["approved_by"] == [APPROVER[0]]
        # The thread tells the story: approved, then executed.
        thread_text = " ".join(str(m.get("blocks")) for m in h.thread())
        assert "re_local_000001" in thread_text
        assert await h.desk.count(ApprovalEvent) == 3  # requested, approved, executed


async def test_a_repeated_request_is_stored_once(database_url: str) -> None:
    async with approval_desk(database_url) as h:
        assert (await h.ask())[0] == 202
        status, body = await h.ask()
        assert status == 200
        assert body["status"] == "pending"
        await h.desk.settle()
        assert await h.desk.count(Approval) == 1
        assert len([m for m in h.slack.calls_to("chat.postMessage")]) == 1
        status, body = await h.ask(params={"amount_minor": 9999})
        assert status == 409
        assert body["error"]["code"] == "request_id_reused"


async def test_partial_refund_through_the_modal(database_url: str) -> None:
    async with approval_desk(database_url) as h:
        await h.ask()
        await h.desk.settle()
        await h.click(ApprovalAction.APPROVE_PARTIAL, APPROVER)
        modal = h.opened_modal(ApprovalModal.PARTIAL)
        assert modal is not None
        answer = await h.submit(ApprovalModal.PARTIAL, APPROVER, {ApprovalBlock.AMOUNT: "12.50"})
        assert answer["response_action"] == "errors"  # the whole amount is not partial
        answer = await h.submit(
            ApprovalModal.PARTIAL,
            APPROVER,
            {ApprovalBlock.AMOUNT: "10", ApprovalBlock.NOTE: "fee kept"},
        )
        assert answer == {}
        await h.desk.settle()
        assert h.local is not None
        assert [r.amount_minor for r in h.local.refunds] == [1000]
        final = h.decisions()[-1]
        assert final["status"] == "executed"
        assert final["result"]["partial"] is True
        assert final["approved_amount_minor"] == 1000


@pytest.mark.parametrize("amount", ["abc", "0", "12.505", "EUR 5"])
async def test_partial_form_refuses_bad_amounts(database_url: str, amount: str) -> None:
    async with approval_desk(database_url) as h:
        await h.ask()
        await h.desk.settle()
        await h.click(ApprovalAction.APPROVE_PARTIAL, APPROVER)
        answer = await h.submit(ApprovalModal.PARTIAL, APPROVER, {ApprovalBlock.AMOUNT: amount})
        assert answer["response_action"] == "errors"
        assert ApprovalBlock.AMOUNT.value in answer["errors"]
        await h.desk.settle()
        assert h.statuses() == []
