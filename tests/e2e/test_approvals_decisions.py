"""Refund approval decisions end to end: who may decide, rejections with a reason, the
two-person rule, two clicks at once, `/desk approvals` and the agent's GET. Signed requests
in; assertions on what the stand-ins recorded and what is stored."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sqlalchemy import func, select

from bot.approvals.actions import ApprovalAction, ApprovalBlock, ApprovalModal
from storage.models import ApprovalEvent
from tests.support.approvals_e2e import (
    APPROVAL_CHANNEL,
    APPROVER,
    GROUP_APPROVER,
    NOT_APPROVER,
    PAYMENT,
    SECOND_APPROVER,
    ApprovalHarness,
    approval_desk,
)

APPROVE, PARTIAL, REJECT = (
    ApprovalAction.APPROVE,
    ApprovalAction.APPROVE_PARTIAL,
    ApprovalAction.REJECT,
)
ALL_BUTTONS = [APPROVE, PARTIAL, REJECT]


def notices(h: ApprovalHarness, request_id: str = "apr-1") -> str:
    """Every reply in the approval message's thread, as one string (``h.thread()`` skips
    the first reply: the stand-in's ``replies`` already leaves out the parent)."""
    message = h.message(request_id)
    assert message is not None
    replies = h.slack.replies(APPROVAL_CHANNEL, message["ts"])
    return " ".join(f"{m.get('text')} {m.get('blocks')}" for m in replies)


def message_text(h: ApprovalHarness, request_id: str = "apr-1") -> str:
    message = h.message(request_id)
    assert message is not None
    return json.dumps(message["blocks"])


def refunds(h: ApprovalHarness) -> list[tuple[str, int]]:
    assert h.local is not None
    return [(r.payment_id, r.amount_minor) for r in h.local.refunds]


async def events_of_kind(h: ApprovalHarness, kind: str) -> int:
    async with h.app.db.uow() as uow:
        count = await uow.session.scalar(
            select(func.count()).select_from(ApprovalEvent).where(ApprovalEvent.kind == kind)
        )
    return int(count or 0)


async def asked(h: ApprovalHarness, **overrides: Any) -> None:
    status, _ = await h.ask(**overrides)
    assert status == 202
    await h.desk.settle()


async def test_reject_with_a_reason_tells_the_agent_and_refunds_nothing(database_url: str) -> None:
    reason = "Duplicate already refunded by bank"
    async with approval_desk(database_url) as h:
        await asked(h)
        assert await h.click(REJECT, APPROVER) == 200
        modal = h.opened_modal(ApprovalModal.REJECT)
        assert modal is not None
        assert modal["callback_id"] == "approval_reject_modal"
        assert json.loads(modal["private_metadata"])["r"] == "apr-1"

        for empty in ("", "   "):
            answer = await h.submit(ApprovalModal.REJECT, APPROVER, {ApprovalBlock.REASON: empty})
            assert answer["response_action"] == "errors"
            assert ApprovalBlock.REASON.value in answer["errors"]
        await h.desk.settle()
        assert h.statuses() == []
        assert (await h.poll())[1]["status"] == "pending"

        answer = await h.submit(ApprovalModal.REJECT, APPROVER, {ApprovalBlock.REASON: reason})
        assert answer == {}
        await h.desk.settle()

        assert h.statuses() == ["rejected"]
        decision = h.decisions()[0]
        assert decision["decided_by"] == APPROVER[0]
        assert decision["decision_reason"] == reason
        assert "result" not in decision
        assert refunds(h) == []
        assert h.buttons() == []
        assert "Rejected by <@U0APPROVE1>" in message_text(h)
        status, polled = await h.poll()
        assert status == 200
        assert (polled["status"], polled["decision_reason"]) == ("rejected", reason)
        assert polled["decided_by"] == APPROVER[0]
        assert reason in notices(h)
        assert await events_of_kind(h, "rejected") == 1

        # A late Approve on the rejected request changes nothing.
        await h.click(APPROVE, SECOND_APPROVER)
        await h.desk.settle()
        assert any("already rejected" in t for t in h.refusals_to(SECOND_APPROVER))
        assert h.statuses() == ["rejected"] and refunds(h) == []


async def test_a_non_approver_is_refused_and_the_refusal_is_audited(database_url: str) -> None:
    async with approval_desk(database_url) as h:
        await asked(h)
        for action in (APPROVE, REJECT, PARTIAL):
            assert await h.click(action, NOT_APPROVER) == 200
        await h.desk.settle()

        refusals = h.refusals_to(NOT_APPROVER)
        assert len(refusals) == 3
        assert all("Only the configured approvers" in text for text in refusals)
        assert h.opened_modal(ApprovalModal.REJECT) is None
        assert h.opened_modal(ApprovalModal.PARTIAL) is None
        assert (await h.poll())[1]["status"] == "pending"
        assert h.decisions() == []
        assert refunds(h) == []
        assert h.buttons() == ALL_BUTTONS
        assert await events_of_kind(h, "refused") == 3

        trail = await h.desk.desk_command("approvals apr-1", APPROVER)
        assert trail.count(f"<@{NOT_APPROVER[0]}> · was refused") == 3
        assert "approval_approve" in trail and "approval_reject" in trail


async def test_the_requester_may_not_approve_their_own_request(database_url: str) -> None:
    async with approval_desk(database_url) as h:
        await asked(h, requested_by=APPROVER[0])
        await h.click(APPROVE, APPROVER)
        await h.click(PARTIAL, APPROVER)
        await h.desk.settle()
        refusals = h.refusals_to(APPROVER)
        assert len(refusals) == 2
        assert all("You asked for this refund" in text for text in refusals)
        assert h.opened_modal(ApprovalModal.PARTIAL) is None
        assert h.decisions() == [] and refunds(h) == []
        assert (await h.poll())[1]["status"] == "pending"
        assert await events_of_kind(h, "refused") == 2

        await h.click(APPROVE, SECOND_APPROVER)
        await h.desk.settle()
        assert h.statuses() == ["approved", "executed"]
        assert refunds(h) == [(PAYMENT, 1250)]
        assert (await h.poll())[1]["approved_by"] == [SECOND_APPROVER[0]]
        assert h.refusals_to(SECOND_APPROVER) == []


async def test_an_approver_through_the_user_group_may_approve(database_url: str) -> None:
    async with approval_desk(database_url) as h:
        assert h.slack.calls_to("usergroups.users.list")
        await asked(h)
        await h.click(APPROVE, GROUP_APPROVER)
        await h.desk.settle()
        assert h.refusals_to(GROUP_APPROVER) == []
        assert h.statuses() == ["approved", "executed"]
        assert h.decisions()[-1]["decided_by"] == GROUP_APPROVER[0]
        assert refunds(h) == [(PAYMENT, 1250)]


async def test_above_the_threshold_two_different_approvers_must_approve(database_url: str) -> None:
    async with approval_desk(database_url, DESKHAND_DUAL_APPROVAL_ABOVE=1000) as h:
        await asked(h)
        await h.click(APPROVE, APPROVER)
        await h.desk.settle()
        assert any("second approver" in text for text in h.refusals_to(APPROVER))
        status, polled = await h.poll()
        assert (status, polled["status"]) == (200, "pending")
        assert polled["approved_by"] == [APPROVER[0]]
        assert refunds(h) == [] and h.decisions() == []
        assert h.buttons() == ALL_BUTTONS
        assert "1 of 2 approvals" in message_text(h)

        await h.click(APPROVE, APPROVER)  # the same approver again
        await h.desk.settle()
        assert any("already approved this refund" in t for t in h.refusals_to(APPROVER))
        assert (await h.poll())[1]["status"] == "pending"
        assert refunds(h) == [] and h.decisions() == []

        await h.click(APPROVE, SECOND_APPROVER)
        await h.desk.settle()
        assert refunds(h) == [(PAYMENT, 1250)]
        assert h.statuses() == ["approved", "executed"]
        final = h.decisions()[-1]
        assert final["approved_by"] == [APPROVER[0], SECOND_APPROVER[0]]
        assert final["decided_by"] == SECOND_APPROVER[0]
        assert h.buttons() == []


async def test_at_the_threshold_one_approver_is_enough(database_url: str) -> None:
    async with approval_desk(database_url, DESKHAND_DUAL_APPROVAL_ABOVE=1000) as h:
        await asked(h, params={"amount_minor": 1000})
        await h.click(APPROVE, APPROVER)
        await h.desk.settle()
        assert h.statuses() == ["approved", "executed"]
        assert refunds(h) == [(PAYMENT, 1000)]
        assert h.refusals_to(APPROVER) == []


async def test_a_partial_approval_at_most_the_threshold_needs_one_approver(
    database_url: str,
) -> None:
    async with approval_desk(database_url, DESKHAND_DUAL_APPROVAL_ABOVE=1000) as h:
        await asked(h)  # USD 12.50: above the threshold
        await h.click(PARTIAL, APPROVER)
        answer = await h.submit(ApprovalModal.PARTIAL, APPROVER, {ApprovalBlock.AMOUNT: "9.00"})
        assert answer == {}
        await h.desk.settle()
        assert refunds(h) == [(PAYMENT, 900)]
        assert h.statuses() == ["approved", "executed"]
        final = h.decisions()[-1]
        assert (final["approved_amount_minor"], final["approved_by"]) == (900, [APPROVER[0]])


async def test_two_approvals_at_once_refund_once(database_url: str) -> None:
    async with approval_desk(database_url) as h:
        await asked(h)
        await asyncio.gather(h.click(APPROVE, APPROVER), h.click(APPROVE, SECOND_APPROVER))
        await h.desk.settle()

        assert refunds(h) == [(PAYMENT, 1250)]
        assert h.statuses() == ["approved", "executed"]
        winner = h.decisions()[-1]["decided_by"]
        loser = SECOND_APPROVER if winner == APPROVER[0] else APPROVER
        assert winner in (APPROVER[0], SECOND_APPROVER[0])
        assert h.refusals_to((winner, "")) == []
        assert len(h.refusals_to(loser)) == 1
        assert "already approved" in h.refusals_to(loser)[0]
        assert (await h.poll())[1]["approved_by"] == [winner]
        assert await events_of_kind(h, "approved") == 1


async def test_approve_and_reject_at_once_have_one_outcome(database_url: str) -> None:
    async with approval_desk(database_url) as h:
        await asked(h)
        await h.click(REJECT, SECOND_APPROVER)
        await asyncio.gather(
            h.click(APPROVE, APPROVER),
            h.submit(ApprovalModal.REJECT, SECOND_APPROVER, {ApprovalBlock.REASON: "no"}),
        )
        await h.desk.settle()

        statuses = h.statuses()
        assert statuses in (["approved", "executed"], ["rejected"])
        approved = statuses != ["rejected"]
        assert refunds(h) == ([(PAYMENT, 1250)] if approved else [])
        assert (await h.poll())[1]["status"] == statuses[-1]
        loser = SECOND_APPROVER if approved else APPROVER
        assert len(h.refusals_to(loser)) == 1
        assert "already" in h.refusals_to(loser)[0]
        assert await events_of_kind(h, "approved") + await events_of_kind(h, "rejected") == 1


async def test_desk_approvals_lists_pending_requests_and_shows_a_trail(database_url: str) -> None:
    async with approval_desk(database_url) as h:
        await asked(h)
        overview = await h.desk.desk_command("approvals", APPROVER)
        assert "Waiting for approval (1)" in overview
        assert "apr-1" in overview and "USD 12.50" in overview

        await h.click(APPROVE, APPROVER)
        await h.desk.settle()
        trail = await h.desk.desk_command("approvals apr-1", APPROVER)
        assert "Refund approval apr-1" in trail
        assert "requested" in trail
        assert f"<@{APPROVER[0]}> · approved · _approval_approve_" in trail
        assert "refund executed" in trail and "re_local_000001" in trail

        overview = await h.desk.desk_command("approvals", APPROVER)
        assert "Waiting for approval (0)" in overview
        assert "Recently decided" in overview and f"by <@{APPROVER[0]}>" in overview

        unknown = await h.desk.desk_command("approvals apr-nope", APPROVER)
        assert "No approval request apr-nope" in unknown


async def test_get_refuses_unknown_ids_and_bad_signatures(database_url: str) -> None:
    async with approval_desk(database_url) as h:
        await asked(h)
        status, body = await h.poll("unknown")
        assert status == 404
        assert body["error"]["code"] == "not_found"
        status, body = await h.poll("apr-1", secret="wrong")
        assert status == 401
        assert body["error"]["code"] == "invalid_signature"
        assert "status" not in body
        status, body = await h.poll("apr-1")
        assert (status, body["status"]) == (200, "pending")


async def test_two_dual_approvals_at_once_both_count(database_url: str) -> None:
    # Both votes are read at the same version; the compare-and-set makes one vote again.
    async with approval_desk(database_url, DESKHAND_DUAL_APPROVAL_ABOVE=1000) as h:
        await asked(h)
        await asyncio.gather(h.click(APPROVE, APPROVER), h.click(APPROVE, SECOND_APPROVER))
        await h.desk.settle()
        assert h.statuses() == ["approved", "executed"]
        assert sorted(h.decisions()[-1]["approved_by"]) == [APPROVER[0], SECOND_APPROVER[0]]
        assert refunds(h) == [(PAYMENT, 1250)]
