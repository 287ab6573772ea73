"""Refund approval Block Kit: amounts, buttons, statuses, modals, audit texts and limits."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.approvals.actions import ApprovalAction, ApprovalBlock, ApprovalModal
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
from bot.approvals.view import ApprovalView, ApprovalVote, AuditEntry
from tests.support.blocks_strategies import MESSY, PROPERTY_SETTINGS

CREATED = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
MARKER = "approval:apr-1"
HOSTILE = "<!channel> <@U123> <https://evil|click> & <b>"
FORBIDDEN = ("<!channel>", "<@U123>", "<https://evil")
CARD = "4242 4242 4242 4242"
# Every `<…>` we may emit: a user or group mention, a date, an https link.
ALLOWED_TOKEN = re.compile(
    r"<@[UW][A-Z0-9]{2,30}>|<!subteam\^S[A-Z0-9]{2,30}>|<!date\^\d+\^[^|<>]+\|[^<>]+>"
    r"|<https://[^|<> ]+\|[^<>]+>"
)
BROADCAST = re.compile(r"@(?:channel|here|everyone)", re.IGNORECASE)


def make_view(**overrides: Any) -> ApprovalView:
    view = ApprovalView(
        request_id="apr-1",
        action="refund",
        status=ApprovalStatus.PENDING,
        requested_by="billing-agent",
        customer_id="c-9",
        customer_email="ada@example.com",
        payment_id="pi_123",
        amount_minor=1250,
        currency="usd",
        refund_reason="duplicate",
        justification="Charged twice for the May invoice.",
        created_at=CREATED,
        expires_at=CREATED + timedelta(days=1),
        required_approvals=1,
    )
    return replace(view, **overrides)


def entry(kind: str, **overrides: Any) -> AuditEntry:
    fields: dict[str, Any] = {
        "event_id": 1,
        "kind": kind,
        "at": CREATED,
        "actor_id": None,
        "actor_name": None,
        "source": "webhook",
    }
    return AuditEntry(**{**fields, **overrides})


def dump(message: Any) -> str:
    return json.dumps(message, ensure_ascii=False)


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]


def mrkdwn_texts(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["text"]] if node.get("type") == "mrkdwn" else []
        return own + [t for child in node.values() for t in mrkdwn_texts(child)]
    if isinstance(node, list):
        return [t for child in node for t in mrkdwn_texts(child)]
    return []


def assert_inert(text: str) -> None:
    for forbidden in FORBIDDEN:
        assert forbidden not in text
    assert not BROADCAST.search(text)
    assert "<" not in ALLOWED_TOKEN.sub("", text)


def assert_within_limits(message: dict[str, Any]) -> None:
    assert 0 < len(message["text"]) <= 3000
    assert 0 < len(message["blocks"]) <= 50
    for block in message["blocks"]:
        if block["type"] == "header":
            assert 0 < len(block["text"]["text"]) <= 150
        if "text" in block and block["type"] == "section":
            assert 0 < len(block["text"]["text"]) <= 3000
        assert len(block.get("fields", [])) <= 10
        assert all(0 < len(f["text"]) <= 2000 for f in block.get("fields", []))
        if block["type"] == "context":
            assert all(0 < len(e["text"]) <= 3000 for e in block["elements"])
        for button in block.get("elements", []) if block["type"] == "actions" else []:
            assert 0 < len(button["text"]["text"]) <= 75
            if "confirm" in button:
                assert len(button["confirm"]["text"]["text"]) <= 300
                assert len(button["confirm"]["confirm"]["text"]) <= 30


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
