"""Undecided refund approvals end to end: escalated to the backup approvers, then expired.
Time is the harness's FakeClock; the sweep job is run directly."""

from __future__ import annotations

import json
from typing import Any

from bot.approvals.actions import ApprovalAction, ApprovalModal
from tests.support.approvals_e2e import (
    APPROVAL_CHANNEL,
    APPROVER,
    BACKUP,
    PAYMENT,
    ApprovalHarness,
    approval_desk,
)

APPROVE, REJECT = ApprovalAction.APPROVE, ApprovalAction.REJECT
TIMING: dict[str, Any] = {
    "DESKHAND_APPROVAL_EXPIRES_AFTER": 3600,
    "DESKHAND_APPROVAL_BACKUP_APPROVERS": BACKUP[0],  # escalated after 1800 s
}


def notices(h: ApprovalHarness, request_id: str = "apr-1") -> list[str]:
    """Every reply in the approval message's thread (``h.thread()`` skips the first)."""
    message = h.message(request_id)
    assert message is not None
    replies = h.slack.replies(APPROVAL_CHANNEL, message["ts"])
    return [f"{m.get('text')} {m.get('blocks')}" for m in replies]


def message_text(h: ApprovalHarness, request_id: str = "apr-1") -> str:
    message = h.message(request_id)
    assert message is not None
    return json.dumps(message["blocks"])


async def sweep(h: ApprovalHarness) -> int:
    changed = await h.app.approvals.expiry.sweep()
    await h.desk.settle()
    return changed


async def asked(h: ApprovalHarness) -> None:
    assert (await h.ask())[0] == 202
    await h.desk.settle()


async def test_backup_approvers_may_decide_only_once_escalated(database_url: str) -> None:
    async with approval_desk(database_url, **TIMING) as h:
        await asked(h)
        await h.click(APPROVE, BACKUP)
        await h.desk.settle()
        assert any("Only the configured approvers" in t for t in h.refusals_to(BACKUP))
        assert (await h.poll())[1]["status"] == "pending"

        await h.desk.advance(1799)
        assert await sweep(h) == 0
        assert not any("U0BACKUP01" in n for n in notices(h))

        await h.desk.advance(1)
        assert await sweep(h) == 1
        escalations = [n for n in notices(h) if "Escalated" in n]
        assert len(escalations) == 1
        assert "<@U0BACKUP01>" in escalations[0]
        assert "Escalated to the backup approvers" in message_text(h)
        assert h.buttons() == [APPROVE, ApprovalAction.APPROVE_PARTIAL, REJECT]
        assert h.decisions() == []  # escalation is not a decision
        assert await sweep(h) == 0  # escalated once

        await h.click(APPROVE, BACKUP)
        await h.desk.settle()
        assert len(h.refusals_to(BACKUP)) == 1  # only the refusal from before
        assert h.statuses() == ["approved", "executed"]
        assert h.decisions()[-1]["decided_by"] == BACKUP[0]
        assert h.local is not None
        assert [(r.payment_id, r.amount_minor) for r in h.local.refunds] == [(PAYMENT, 1250)]


async def test_an_escalated_request_expires_in_the_end(database_url: str) -> None:
    async with approval_desk(database_url, **TIMING) as h:
        await asked(h)
        await h.desk.advance(1800)
        assert await sweep(h) == 1
        await h.desk.advance(1800)
        assert await sweep(h) == 1
        assert h.statuses() == ["expired"]
        assert h.buttons() == []
        await h.click(APPROVE, BACKUP)  # backup approvers cannot revive it either
        await h.desk.settle()
        assert any("expired" in t for t in h.refusals_to(BACKUP))
        assert h.statuses() == ["expired"]


async def test_an_undecided_request_expires_and_stays_expired(database_url: str) -> None:
    async with approval_desk(database_url, **TIMING) as h:
        await asked(h)
        await h.desk.advance(3599)
        assert await sweep(h) == 1  # escalated, not yet expired
        assert h.decisions() == []

        await h.desk.advance(1)
        assert await sweep(h) == 1
        assert h.statuses() == ["expired"]
        expired = h.decisions()[0]
        assert "decided_by" not in expired and "result" not in expired
        assert h.buttons() == []
        assert "Expired" in message_text(h)
        assert any("Expired" in n for n in notices(h))
        status, polled = await h.poll()
        assert (status, polled["status"]) == (200, "expired")

        posts, updates = (
            len(h.slack.calls_to("chat.postMessage")),
            len(h.slack.calls_to("chat.update")),
        )
        await h.click(APPROVE, APPROVER)
        await h.click(REJECT, APPROVER)
        await h.desk.settle()
        refusals = h.refusals_to(APPROVER)
        assert len(refusals) == 2
        assert all("expired before anyone decided" in text for text in refusals)
        assert h.opened_modal(ApprovalModal.REJECT) is None
        assert h.statuses() == ["expired"]
        assert h.local is not None and h.local.refunds == []
        assert (await h.poll())[1]["status"] == "expired"

        await h.desk.advance(3600)
        assert await sweep(h) == 0
        assert h.statuses() == ["expired"]
        assert len(h.agent.received) == 1  # one callback, delivered once
        assert len(h.slack.calls_to("chat.postMessage")) == posts
        assert len(h.slack.calls_to("chat.update")) == updates


async def test_expiring_without_an_earlier_sweep_does_not_escalate(database_url: str) -> None:
    async with approval_desk(database_url, **TIMING) as h:
        await asked(h)
        await h.desk.advance(3600)
        assert await sweep(h) == 1
        assert h.statuses() == ["expired"]
        assert not any("Escalated" in n for n in notices(h))
        assert "rejected" not in [d["status"] for d in h.agent.of_type("approval_decision")]


async def test_a_request_past_its_deadline_cannot_be_approved_before_the_sweep(
    database_url: str,
) -> None:
    async with approval_desk(database_url, **TIMING) as h:
        await asked(h)
        await h.desk.advance(3601)  # past expires_at; the sweep has not run yet
        await h.click(APPROVE, APPROVER)
        await h.desk.settle()
        assert h.local is not None and h.local.refunds == []
        assert "approved" not in h.statuses()
