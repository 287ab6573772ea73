"""Refund approval Block Kit: the modals, the audit notices and the /desk approvals texts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bot.approvals.actions import ApprovalBlock, ApprovalModal
from bot.approvals.blocks import (
    approvals_list_text,
    audit_notice,
    audit_trail_text,
    partial_modal,
    reject_modal,
)
from bot.approvals.payloads import ApprovalStatus
from bot.approvals.view import ApprovalVote
from tests.support.approval_views import (
    CREATED,
    dump,
    entry,
    make_view,
)

# -- modals -------------------------------------------------------------------------------------


def inputs(modal: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["block_id"]: b for b in modal["blocks"] if b["type"] == "input"}


def test_reject_modal() -> None:
    modal = reject_modal(make_view(), private_metadata='{"request_id":"apr-1"}')
    assert modal["type"] == "modal" and modal["callback_id"] == ApprovalModal.REJECT
    assert modal["private_metadata"] == '{"request_id":"apr-1"}'
    assert (modal["title"]["text"], modal["submit"]["text"]) == ("Reject refund", "Reject")
    assert modal["close"]["text"] == "Cancel"
    reason = inputs(modal)[ApprovalBlock.REASON]
    assert reason["element"]["action_id"] == ApprovalBlock.REASON
    assert reason["element"]["multiline"] is True and reason["element"]["max_length"] == 1000
    assert reason.get("optional", False) is False
    assert "USD 12.50" in dump(modal) and "pi_123" in dump(modal)


@pytest.mark.parametrize(
    ("currency", "maximum", "example"),
    [("usd", "USD 12.50", '"12.50"'), ("jpy", "JPY 1,250", '"1250"'), ("kwd", "KWD 1.250", "12.")],
)
def test_partial_modal(currency: str, maximum: str, example: str) -> None:
    modal = partial_modal(make_view(currency=currency), private_metadata="apr-1")
    assert modal["callback_id"] == ApprovalModal.PARTIAL and modal["private_metadata"] == "apr-1"
    assert (modal["title"]["text"], modal["submit"]["text"]) == ("Partial refund", "Approve")
    found = inputs(modal)
    amount, note = found[ApprovalBlock.AMOUNT], found[ApprovalBlock.NOTE]
    assert amount["element"]["action_id"] == ApprovalBlock.AMOUNT
    hint = amount["hint"]["text"]
    assert currency.upper() in hint and maximum in hint and example in hint
    assert note["element"]["action_id"] == ApprovalBlock.NOTE and note["optional"] is True
    assert note["element"]["max_length"] == 1000


def test_modal_text_limits_and_metadata_guard() -> None:
    for modal in (
        reject_modal(make_view(), private_metadata=""),
        partial_modal(make_view(), private_metadata=""),
    ):
        for key in ("title", "submit", "close"):
            assert 0 < len(modal[key]["text"]) <= 24
    with pytest.raises(ValueError):
        reject_modal(make_view(), private_metadata="x" * 3001)


# -- audit notices and texts --------------------------------------------------------------------


def test_audit_notices() -> None:
    vote = ApprovalVote(user_id="U0ANA", amount_minor=1000, at=CREATED)
    view = make_view(votes=(vote,), approved_amount_minor=1000, refund_id="re_123")
    approved = entry(
        "partially_approved", actor_id="U0ANA", source="slack:approval_approve_partial"
    )
    notice = audit_notice(approved, view)
    assert notice["text"] == (
        ":white_check_mark: <@U0ANA> approved USD 10.00 of USD 12.50 (partial)"
        " · via approval_approve_partial"
    )
    assert notice["blocks"][-1]["type"] == "context"
    assert "<!date^" in notice["blocks"][-1]["elements"][0]["text"]
    assert (
        "Refund re_123 executed" in audit_notice(entry("executed", source="payments"), view)["text"]
    )
    refused = entry("refused", actor_id="U0BOB", detail="not an approver")
    assert "<@U0BOB> was refused: not an approver" in audit_notice(refused, view)["text"]


def test_audit_trail_lists_each_entry() -> None:
    history = (
        entry("requested", event_id=1),
        entry("approved", event_id=2, actor_id="U0ANA", source="slack:approval_approve"),
        entry("executed", event_id=3, source="payments", detail="re_123"),
    )
    text = audit_trail_text(make_view(status=ApprovalStatus.EXECUTED, history=history))
    lines = text.splitlines()
    assert "USD 12.50" in lines[0] and "refunded" in lines[0]
    assert len(lines) == 4 and "billing-agent" in lines[1] and "<@U0ANA>" in lines[2]
    assert "approval_approve" in lines[2] and "re_123" in lines[3]


def test_audit_trail_keeps_the_newest_lines_when_cut() -> None:
    history = tuple(
        entry(
            "refused",
            event_id=i,
            at=CREATED + timedelta(minutes=i),
            detail=f"entry-{i}-" + "x" * 80,
        )
        for i in range(200)
    )
    text = audit_trail_text(make_view(history=tuple(reversed(history))))
    assert len(text) <= 3000
    assert "entry-199-" in text and "entry-0-" not in text
    assert "earlier entries left out" in text.splitlines()[1]
    assert text.rstrip().splitlines()[-1].count("entry-199-") == 1


def test_approvals_list() -> None:
    assert "No refund approvals" in approvals_list_text([], [])
    vote = ApprovalVote(user_id="U0ANA", amount_minor=1250, at=CREATED)
    pending = make_view(required_approvals=2, votes=(vote,))
    done = make_view(request_id="apr-0", status=ApprovalStatus.REJECTED, decided_by="U0BOB")
    text = approvals_list_text([pending], [done])
    assert "apr-1" in text and "USD 12.50" in text and "1 of 2 approvals" in text
    assert "billing-agent" in text and "apr-0" in text and "<@U0BOB>" in text
    expired = make_view(status=ApprovalStatus.EXPIRED)
    assert "reject" not in approvals_list_text([], [expired]).lower()


def test_a_long_approvals_list_is_cut_to_fit() -> None:
    many = [make_view(request_id=f"apr-{i}") for i in range(300)]
    text = approvals_list_text(many, many)
    assert len(text) <= 3000 and "more_" in text and "apr-0 " in text
