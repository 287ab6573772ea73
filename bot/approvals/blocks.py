"""Block Kit for refund approvals: the approval message, its thread notices and the modals.

Every builder is pure and takes an `ApprovalView`. Text from the AI agent, approvers and the
payment provider goes through `safe_text`; stored Slack ids become mentions only when they are
shaped like one (see `blocks_text.py`). Buttons are offered only while a request is pending.
"""

from __future__ import annotations

from typing import Any

from bot.approvals.actions import ApprovalAction, ApprovalBlock
from bot.approvals.blocks_modals import partial_modal, reject_modal
from bot.approvals.blocks_text import (
    DETAIL_CHARS,
    actor_label,
    agent_text,
    amount_phrase,
    approvals_list_text,
    approved_amount,
    audit_trail_text,
    customer_label,
    handoff_label,
    mention,
    mentions,
    reason_label,
    requested_amount,
    source_label,
)
from bot.approvals.payloads import ApprovalStatus
from bot.approvals.view import ApprovalView, AuditEntry
from bot.handoffs.blocks_transcript import (
    MAX_FALLBACK_TEXT,
    MAX_FIELD_TEXT,
    MAX_SECTION_TEXT,
    Block,
    button,
    context,
    header,
    mrkdwn,
    plain,
    section,
    slack_time,
)
from bot.text import safe_text, split_text, truncate

__all__ = [
    "approval_message",
    "approvals_list_text",
    "audit_notice",
    "audit_trail_text",
    "partial_modal",
    "reject_modal",
]

HEADER_EMOJI = {
    ApprovalStatus.PENDING: ":hourglass_flowing_sand:",
    ApprovalStatus.APPROVED: ":white_check_mark:",
    ApprovalStatus.EXECUTED: ":moneybag:",
    ApprovalStatus.FAILED: ":x:",
    ApprovalStatus.REJECTED: ":no_entry_sign:",
    ApprovalStatus.EXPIRED: ":alarm_clock:",
}
JUSTIFICATION_SECTIONS = 4
_JUSTIFICATION_LABEL = "*Justification*"


def approval_message(view: ApprovalView, *, marker: str) -> dict[str, Any]:
    """The approval request message; its first block carries `marker` so it can be found."""
    emoji = HEADER_EMOJI.get(view.status, "")
    blocks: list[Block] = [
        header(f"{emoji} Refund approval: {requested_amount(view)}".strip(), block_id=marker),
        _fields(view),
        *_justification(view.justification),
        section(_status_text(view)),
        *_actions(view),
        context(
            f"Request {agent_text(view.request_id, 200)} · created {slack_time(view.created_at)}"
        ),
    ]
    return {"text": _fallback(view), "blocks": blocks}


def audit_notice(entry: AuditEntry, view: ApprovalView) -> dict[str, Any]:
    """A thread message for one step of the audit trail."""
    line = _notice_line(entry, view)
    via = f"via {source_label(entry.source)}"
    return {
        "text": truncate(f"{line} · {via}", MAX_FALLBACK_TEXT),
        "blocks": [section(line), context(f"{slack_time(entry.at)} · {via}")],
    }


def _fields(view: ApprovalView) -> Block:
    fields = {
        "Requested by": agent_text(view.requested_by),
        "Amount": requested_amount(view),
        "Customer": customer_label(view).replace(" · ", "\n"),
        "Payment": agent_text(view.payment_id, 255),
        "Refund reason": reason_label(view.refund_reason),
        "Handoff": handoff_label(view),
    }
    return {
        "type": "section",
        "fields": [
            mrkdwn(truncate(f"*{name}*\n{value or '—'}", MAX_FIELD_TEXT))
            for name, value in fields.items()
            if value is not None
        ],
    }


def _justification(text: str) -> list[Block]:
    body = safe_text(text.strip()) or "_No justification given_"
    room = MAX_SECTION_TEXT - len(_JUSTIFICATION_LABEL) - 1
    body = truncate(body, room * JUSTIFICATION_SECTIONS)
    pieces = split_text(body, room)
    return [
        section(f"{_JUSTIFICATION_LABEL}\n{piece}" if index == 0 else piece)
        for index, piece in enumerate(pieces)
    ]


def _status_text(view: ApprovalView) -> str:
    decided = f" · {slack_time(view.decided_at)}" if view.decided_at else ""
    reason = _quote(view.decision_reason)
    match view.status:
        case ApprovalStatus.PENDING:
            return _pending_text(view)
        case ApprovalStatus.APPROVED:
            return (
                f":white_check_mark: Approved by {_approvers(view)}"
                f" — refunding {approved_amount(view)}{decided}{reason}"
            )
        case ApprovalStatus.EXECUTED:
            refund = f" · refund {agent_text(view.refund_id)}" if view.refund_id else ""
            return (
                f":moneybag: Refunded {approved_amount(view)}{refund}"
                f" · approved by {_approvers(view)}{decided}{reason}"
            )
        case ApprovalStatus.FAILED:
            failure = agent_text(view.failure, DETAIL_CHARS) or "no reason given"
            return (
                f":x: Refund failed: {failure} · {approved_amount(view)}"
                f" approved by {_approvers(view)}{decided}"
            )
        case ApprovalStatus.REJECTED:
            return f":no_entry_sign: Rejected by {mention(view.decided_by)}{decided}{reason}"
        case ApprovalStatus.EXPIRED:
            return (
                ":alarm_clock: Expired: nobody decided in time"
                f" (expired {slack_time(view.expires_at)})"
            )
    return agent_text(str(view.status))


def _pending_text(view: ApprovalView) -> str:
    lines = [
        f":hourglass_flowing_sand: Waiting for approval · expires {slack_time(view.expires_at)}"
    ]
    if view.required_approvals > 1:
        lines[0] += f" · {len(view.votes)} of {view.required_approvals} approvals"
    for vote in view.votes:
        note = f": {agent_text(vote.note, DETAIL_CHARS)}" if vote.note and vote.note.strip() else ""
        amount = amount_phrase(view, vote.amount_minor)
        lines.append(f"• {mention(vote.user_id)} approved {amount}{note}")
    if view.escalated_at is not None:
        backups = mentions(view.backup_approvers) or "the backup approvers"
        lines.append(
            f":rotating_light: Escalated to the backup approvers {slack_time(view.escalated_at)}:"
            f" {backups}"
        )
    return "\n".join(lines)


def _approvers(view: ApprovalView) -> str:
    voters = [vote.user_id for vote in view.votes]
    if not voters or (view.decided_by and view.decided_by not in voters):
        voters.append(view.decided_by or "")
    return " and ".join(dict.fromkeys(mention(v, unknown="an approver") for v in voters))


def _quote(text: str | None) -> str:
    if not text or not text.strip():
        return ""
    return "\n> " + agent_text(text, DETAIL_CHARS).replace("\n", "\n> ")


def _fallback(view: ApprovalView) -> str:
    status = {
        ApprovalStatus.PENDING: "waiting for approval",
        ApprovalStatus.APPROVED: f"approved, refunding {approved_amount(view)}",
        ApprovalStatus.EXECUTED: f"refunded {approved_amount(view)}",
        ApprovalStatus.FAILED: "the refund failed",
        ApprovalStatus.REJECTED: "rejected",
        ApprovalStatus.EXPIRED: "expired, nobody decided in time",
    }.get(view.status, agent_text(str(view.status)))
    text = (
        f"Refund approval for {requested_amount(view)} requested by "
        f"{agent_text(view.requested_by)}: {status}"
    )
    return truncate(text, MAX_FALLBACK_TEXT)


def _notice_line(entry: AuditEntry, view: ApprovalView) -> str:
    actor = actor_label(entry, view)
    detail = agent_text(entry.detail, DETAIL_CHARS)
    suffix = f": {detail}" if detail else ""
    match entry.kind:
        case "requested":
            return f":inbox_tray: {actor} requested a refund of {requested_amount(view)}{suffix}"
        case "approved" | "partially_approved" | "approval_added":
            vote = next((v for v in view.votes if v.user_id == entry.actor_id), None)
            amount = vote.amount_minor if vote else view.approved_amount_minor
            line = f":white_check_mark: {actor} approved {amount_phrase(view, amount)}{suffix}"
            if entry.kind == "approval_added":
                line += f" ({len(view.votes)} of {view.required_approvals} approvals)"
            return line
        case "rejected":
            return f":no_entry_sign: {actor} rejected the refund{suffix}"
        case "refused":
            return f":lock: {actor} was refused{suffix or ': not allowed'}"
        case "escalated":
            backups = mentions(view.backup_approvers) or "the backup approvers"
            return f":rotating_light: Escalated to {backups}{suffix}"
        case "expired":
            return f":alarm_clock: Expired: nobody decided in time{suffix}"
        case "executed":
            refund = f" {agent_text(view.refund_id)}" if view.refund_id else ""
            # The detail is the refund id, already in the line.
            return f":moneybag: Refund{refund} executed · {approved_amount(view)}"
        case "failed":
            failure = agent_text(view.failure, DETAIL_CHARS) or detail or "no reason given"
            return f":x: Refund failed: {failure}"
        case "callback_delivered":
            return f":outbox_tray: Decision sent to {agent_text(view.requested_by)}{suffix}"
    return f"{actor} · {agent_text(entry.kind.replace('_', ' '), 50)}{suffix}"


def _actions(view: ApprovalView) -> list[Block]:
    if view.status != ApprovalStatus.PENDING:
        return []
    amount = requested_amount(view)
    confirm = {
        "title": plain("Approve this refund?"),
        "text": plain(
            truncate(
                f"Refund the full {amount} of payment {agent_text(view.payment_id)} "
                f"to customer {customer_label(view)}.",
                300,
            )
        ),
        "confirm": plain(truncate(f"Approve {amount}", 30)),
        "deny": plain("Cancel"),
    }
    buttons = [
        _button(view, ApprovalAction.APPROVE, "Approve", style="primary", confirm=confirm),
        _button(view, ApprovalAction.APPROVE_PARTIAL, "Partial refund…"),
        _button(view, ApprovalAction.REJECT, "Reject", style="danger"),
    ]
    return [{"type": "actions", "block_id": ApprovalBlock.ACTIONS.value, "elements": buttons}]


def _button(
    view: ApprovalView,
    action: ApprovalAction,
    label: str,
    *,
    style: str | None = None,
    confirm: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return button(action.value, label, view.request_id, style=style, confirm=confirm)
