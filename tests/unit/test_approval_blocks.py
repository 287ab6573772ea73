"""Refund approval Block Kit: amounts, buttons, statuses, modals, audit texts and limits."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.approvals.actions import ApprovalAction, ApprovalBlock
from bot.approvals.blocks import (
    approval_message,
    approvals_list_text,
    audit_notice,
    audit_trail_text,
    partial_modal,
    reject_modal,
)
from bot.approvals.blocks_text import mention
from bot.approvals.payloads import ApprovalStatus
from bot.approvals.view import ApprovalView, ApprovalVote
from tests.support.approval_views import (
    CARD,
    CREATED,
    HOSTILE,
    MARKER,
    assert_inert,
    assert_within_limits,
    buttons,
    dump,
    entry,
    make_view,
    mrkdwn_texts,
)
from tests.support.blocks_strategies import MESSY, PROPERTY_SETTINGS

# -- amounts, fields, buttons -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "shown"), [("usd", "USD 12.50"), ("jpy", "JPY 1,250"), ("kwd", "KWD 1.250")]
)
def test_amounts_are_shown_in_the_currency_s_minor_units(currency: str, shown: str) -> None:
    message = approval_message(make_view(currency=currency), marker=MARKER)
    assert message["blocks"][0]["text"]["text"].endswith(f"Refund approval: {shown}")
    assert shown in message["text"]
    assert shown in buttons(message)[0]["confirm"]["text"]["text"]


def test_first_block_carries_the_marker_and_fields_name_the_request() -> None:
    message = approval_message(make_view(refund_reason="requested_by_customer"), marker=MARKER)
    assert message["blocks"][0]["block_id"] == MARKER
    text = dump(message)
    for expected in ("billing-agent", "c-9", "ada@example.com", "pi_123", "Requested by the"):
        assert expected in text
    assert "apr-1" in mrkdwn_texts(message["blocks"][-1])[0]


def test_buttons_while_pending_carry_the_request_id() -> None:
    found = buttons(approval_message(make_view(), marker=MARKER))
    assert [b["action_id"] for b in found] == [
        ApprovalAction.APPROVE,
        ApprovalAction.APPROVE_PARTIAL,
        ApprovalAction.REJECT,
    ]
    assert all(b["value"] == "apr-1" for b in found)
    assert [b.get("style") for b in found] == ["primary", None, "danger"]
    assert "USD 12.50" in found[0]["confirm"]["text"]["text"]
    actions = [b for b in approval_message(make_view(), marker=MARKER)["blocks"] if "elements" in b]
    assert actions[0]["block_id"] == ApprovalBlock.ACTIONS


@pytest.mark.parametrize("status", [s for s in ApprovalStatus if s != ApprovalStatus.PENDING])
def test_no_buttons_once_decided(status: ApprovalStatus) -> None:
    message = approval_message(make_view(status=status, decided_by="U0ANA"), marker=MARKER)
    assert buttons(message) == []


@pytest.mark.parametrize(
    ("handoff", "expected", "absent"),
    [
        ({"handoff_reference": "DH-7", "handoff_url": "https://x.slack.com/p1?a=1&b=2"},
         "<https://x.slack.com/p1?a=1&amp;b=2|DH-7>", None),
        ({"handoff_reference": "DH-7", "handoff_url": "javascript:alert(1)"}, "DH-7", "javascript"),
        ({"handoff_reference": "DH-7", "handoff_url": "http://x.test/p"}, "DH-7", "http://"),
        ({"handoff_id": "sess-42:esc-1"}, "sess-42:esc-1", None),
        ({}, None, "Handoff"),
    ],
)  # fmt: skip
def test_handoff_field(handoff: dict[str, str], expected: str | None, absent: str | None) -> None:
    text = dump(approval_message(make_view(**handoff), marker=MARKER))
    if expected is not None:
        assert expected in text
    if absent is not None:
        assert absent not in text


# -- statuses -----------------------------------------------------------------------------------


def test_partial_approval_is_shown_as_partial() -> None:
    for status in (ApprovalStatus.APPROVED, ApprovalStatus.EXECUTED):
        view = make_view(status=status, decided_by="U0ANA", approved_amount_minor=1000)
        text = dump(approval_message(replace(view, refund_id="re_123"), marker=MARKER))
        assert "USD 10.00 of USD 12.50 (partial)" in text
        assert "<@U0ANA>" in text
    approved = make_view(
        status=ApprovalStatus.APPROVED, decided_by="U0ANA", approved_amount_minor=1000
    )
    assert "Approved by <@U0ANA> — refunding USD 10.00 of USD 12.50 (partial)" in dump(
        approval_message(approved, marker=MARKER)
    )
    assert "re_123" in dump(
        approval_message(make_view(status=ApprovalStatus.EXECUTED, refund_id="re_123"), marker="m")
    )
    full = make_view(status=ApprovalStatus.APPROVED, decided_by="U0ANA", approved_amount_minor=1250)
    assert "partial" not in dump(approval_message(full, marker=MARKER))


def test_expired_never_says_rejected() -> None:
    view = make_view(
        status=ApprovalStatus.EXPIRED,
        decided_at=CREATED + timedelta(days=1),
        escalated_at=CREATED + timedelta(hours=4),
        backup_approvers=("U0BACKUP",),
        history=(entry("expired", source="job:approval_expiry"),),
    )
    message = approval_message(view, marker=MARKER)
    assert "Expired: nobody decided in time" in dump(message)
    assert "reject" not in dump(message).lower()
    assert "reject" not in dump(audit_notice(view.history[0], view)).lower()


def test_failed_and_rejected_show_the_escaped_reason() -> None:
    failed = make_view(status=ApprovalStatus.FAILED, failure="card_declined <@U123>")
    assert "Refund failed: card_declined &lt;@U123&gt;" in dump(
        approval_message(failed, marker=MARKER)
    )
    rejected = make_view(status=ApprovalStatus.REJECTED, decided_by="U0BOB", decision_reason="no")
    text = dump(approval_message(rejected, marker=MARKER))
    assert "Rejected by <@U0BOB>" in text and "> no" in text


def test_dual_approval_pending_shows_votes() -> None:
    vote = ApprovalVote(user_id="U0ANA", amount_minor=1000, at=CREATED, note="ok <!here>")
    view = make_view(required_approvals=2, votes=(vote,))
    text = dump(approval_message(view, marker=MARKER))
    assert "1 of 2 approvals" in text
    assert "<@U0ANA> approved USD 10.00 of USD 12.50 (partial)" in text
    assert_inert(text)


def test_escalation_mentions_backup_users_and_groups() -> None:
    view = make_view(
        escalated_at=CREATED + timedelta(hours=4),
        backup_approvers=("U0BACKUP", "S0LEADS", "not an id <!here>"),
    )
    text = dump(approval_message(view, marker=MARKER))
    assert "Escalated to the backup approvers" in text
    assert "<@U0BACKUP>" in text and "<!subteam^S0LEADS>" in text
    assert_inert(text)
    notice = dump(audit_notice(entry("escalated", detail="nobody decided within 4h"), view))
    assert "Escalated to <@U0BACKUP> <!subteam^S0LEADS>" in notice and "within 4h" in notice


@pytest.mark.parametrize(
    ("slack_id", "shown"),
    [("U0ANA", "<@U0ANA>"), ("W0LEAD", "<@W0LEAD>"), ("S0TEAM", "<!subteam^S0TEAM>"),
     ("u0ana", "u0ana"), ("U0ANA\n", "U0ANA"), ("<@U123>", "&lt;@U123&gt;"), (None, "someone")],
)  # fmt: skip
def test_mentions_only_for_id_shaped_values(slack_id: str | None, shown: str) -> None:
    assert mention(slack_id) == shown


# -- hostile and long text ----------------------------------------------------------------------


def hostile_view(status: ApprovalStatus) -> ApprovalView:
    return make_view(
        status=status,
        requested_by=HOSTILE,
        justification=f"{HOSTILE} card {CARD}",
        customer_id=HOSTILE,
        customer_email=HOSTILE,
        payment_id=HOSTILE,
        decided_by="U0ANA",
        decision_reason=HOSTILE,
        failure=HOSTILE,
        refund_id=HOSTILE,
        refund_reason=HOSTILE,
        handoff_reference=HOSTILE,
        handoff_url="https://x.test/<@U123>",
        approved_amount_minor=1000,
        votes=(ApprovalVote(user_id=HOSTILE, amount_minor=1000, at=CREATED, note=HOSTILE),),
        backup_approvers=(HOSTILE,),
        escalated_at=CREATED,
        history=tuple(
            entry(kind, actor_id=HOSTILE, actor_name=HOSTILE, source=HOSTILE, detail=HOSTILE)
            for kind in ("requested", "approved", "refused", "escalated", "failed", HOSTILE)
        ),
    )


@pytest.mark.parametrize("status", list(ApprovalStatus))
def test_hostile_text_never_pings_or_links(status: ApprovalStatus) -> None:
    view = hostile_view(status)
    outputs: list[Any] = [
        approval_message(view, marker=MARKER),
        reject_modal(view, private_metadata="m"),
        partial_modal(view, private_metadata="m"),
        audit_trail_text(view),
        approvals_list_text([view], [view]),
        *(audit_notice(e, view) for e in view.history),
    ]
    for output in outputs:
        text = dump(output)
        assert_inert(text)
        assert CARD not in text
    assert "•••• 4242" in dump(outputs[0])


@given(text=MESSY, other=MESSY, status=st.sampled_from(list(ApprovalStatus)))
@PROPERTY_SETTINGS
def test_any_text_stays_inert_and_within_limits(text: str, other: str, status: Any) -> None:
    view = make_view(
        status=status,
        requested_by=text,
        justification=other,
        customer_email=text,
        decision_reason=other,
        failure=text,
        handoff_reference=text,
        handoff_url=other,
        history=(entry("rejected", actor_name=text, detail=other),),
    )
    message = approval_message(view, marker=MARKER)
    assert_within_limits(message)
    assert_inert(dump(message))
    for extra in (audit_trail_text(view), approvals_list_text([view], [view])):
        assert len(extra) <= 3000
        assert_inert(extra)


def test_a_huge_justification_stays_within_slack_limits() -> None:
    for justification in ("x" * 20_000, "<&> " * 5_000, "word " * 4_000):
        message = approval_message(make_view(justification=justification), marker=MARKER)
        assert_within_limits(message)
        assert sum("Justification" in t for t in mrkdwn_texts(message)) == 1
