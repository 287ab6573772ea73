"""The mrkdwn pieces of the approval messages, and the `/desk approvals` texts built from them.

This is the lower of the two approval block modules: `blocks.py` builds Block Kit on top of
it. Text from the AI agent, approvers and the payment provider goes through `safe_text`;
stored Slack ids become mentions only when they are shaped like one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from bot.approvals.money import format_amount
from bot.approvals.payloads import ApprovalStatus
from bot.approvals.view import ApprovalView, AuditEntry
from bot.handoffs.blocks_transcript import MAX_SECTION_TEXT, slack_time
from bot.text import safe_text, truncate

__all__ = ["approvals_list_text", "audit_trail_text"]

REFUND_REASONS = {
    "duplicate": "Duplicate charge",
    "fraudulent": "Fraudulent charge",
    "requested_by_customer": "Requested by the customer",
}
STATUS_LABELS = {
    ApprovalStatus.PENDING: ":hourglass_flowing_sand: pending",
    ApprovalStatus.APPROVED: ":white_check_mark: approved",
    ApprovalStatus.EXECUTED: ":moneybag: refunded",
    ApprovalStatus.FAILED: ":x: refund failed",
    ApprovalStatus.REJECTED: ":no_entry_sign: rejected",
    ApprovalStatus.EXPIRED: ":alarm_clock: expired",
}
KIND_LABELS = {
    "requested": "requested",
    "approved": "approved",
    "partially_approved": "approved a partial refund",
    "approval_added": "approved (a second approver is needed)",
    "rejected": "rejected",
    "refused": "was refused",
    "escalated": "escalated",
    "expired": "expired",
    "executed": "refund executed",
    "failed": "refund failed",
    "callback_delivered": "decision sent to the agent",
}
NAME_CHARS = 100
DETAIL_CHARS = 300
MAX_URL = 1000
_LINE_CHARS = 600
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,30}")
_GROUP_ID = re.compile(r"S[A-Z0-9]{2,30}")


def mention(slack_id: str | None, *, unknown: str = "someone") -> str:
    """`<@U…>` or `<!subteam^S…>` for an id shaped like one; anything else shows as text."""
    if slack_id is None or not slack_id.strip():
        return unknown
    if _USER_ID.fullmatch(slack_id):
        return f"<@{slack_id}>"
    if _GROUP_ID.fullmatch(slack_id):
        return f"<!subteam^{slack_id}>"
    return truncate(safe_text(slack_id.strip()), NAME_CHARS)


def mentions(slack_ids: Iterable[str]) -> str:
    return " ".join(dict.fromkeys(mention(slack_id) for slack_id in slack_ids))


def agent_text(text: str | None, limit: int = NAME_CHARS) -> str:
    """Text from the agent, an approver or the provider: masked, escaped and shortened."""
    return truncate(safe_text((text or "").strip()), limit)


def money(amount_minor: int, currency: str) -> str:
    """`format_amount`, or the raw minor units should a stored currency be unknown."""
    try:
        return format_amount(amount_minor, currency)
    except (TypeError, ValueError):
        return f"{agent_text(currency.upper(), 10)} {amount_minor} (minor units)"


def requested_amount(view: ApprovalView) -> str:
    return money(view.amount_minor, view.currency)


def approved_amount(view: ApprovalView) -> str:
    """ "USD 12.50", or "USD 10.00 of USD 12.50 (partial)" when less than asked is refunded."""
    return amount_phrase(view, view.approved_amount_minor)


def amount_phrase(view: ApprovalView, amount_minor: int | None) -> str:
    if amount_minor is None or amount_minor >= view.amount_minor:
        return requested_amount(view)
    return f"{money(amount_minor, view.currency)} of {requested_amount(view)} (partial)"


def reason_label(reason: str) -> str:
    return REFUND_REASONS.get(reason) or agent_text(reason.replace("_", " "))


def customer_label(view: ApprovalView) -> str:
    parts = (view.customer_id, view.customer_email)
    return " · ".join(agent_text(part) for part in parts if part and part.strip()) or "unknown"


def https_link(url: str | None, label: str) -> str:
    """`<url|label>` for a plain https URL; anything else shows the label only."""
    if not url or len(url) > MAX_URL or not url.isprintable() or not url.startswith("https://"):
        return label
    if any(char in url for char in "|<> ") or not urlsplit(url).netloc:
        return label
    return f"<{url.replace('&', '&amp;')}|{label}>"


def handoff_label(view: ApprovalView) -> str | None:
    """The handoff's reference (or id), linked to its thread when the link is https."""
    label = view.handoff_reference or view.handoff_id
    if not label or not label.strip():
        return None
    return https_link(view.handoff_url, agent_text(label))


def actor_label(entry: AuditEntry, view: ApprovalView) -> str:
    if entry.actor_id and entry.actor_id.strip():
        return mention(entry.actor_id)
    if entry.actor_name and entry.actor_name.strip():
        return agent_text(entry.actor_name)
    return agent_text(view.requested_by) if entry.kind == "requested" else "deskhand"


def kind_label(kind: str) -> str:
    return KIND_LABELS.get(kind) or agent_text(kind.replace("_", " "), 50)


def source_label(source: str) -> str:
    """ "slack:approval_approve" -> "approval_approve"; other sources as they are."""
    return agent_text(source.removeprefix("slack:"), 80) or "unknown"


def fit_lines(lines: list[str], budget: int, *, newest_last: bool = False) -> tuple[list[str], int]:
    """The lines that fit in `budget` characters (newlines counted) and how many were left out.

    Lines are kept from the start, or from the end when `newest_last` is set.
    """
    ordered = list(reversed(lines)) if newest_last else lines
    kept: list[str] = []
    used = 0
    for line in ordered:
        if used + len(line) + 1 > budget:
            break
        kept.append(line)
        used += len(line) + 1
    if newest_last:
        kept.reverse()
    return kept, len(lines) - len(kept)


def audit_trail_text(view: ApprovalView) -> str:
    """The whole audit trail of one request, for `/desk approvals <request_id>`."""
    headline = (
        f"*Refund approval {agent_text(view.request_id, 200)}* · {requested_amount(view)}"
        f" · {STATUS_LABELS.get(view.status, agent_text(str(view.status)))}"
    )
    entries = sorted(view.history, key=lambda entry: (entry.at, entry.event_id))
    if not entries:
        return f"{headline}\n_No history yet_"
    lines = [_trail_line(entry, view) for entry in entries]
    note = "_… {} earlier entries left out_"
    budget = MAX_SECTION_TEXT - len(headline) - len(note) - 10
    kept, left_out = fit_lines(lines, budget, newest_last=True)
    if left_out:
        kept.insert(0, note.format(left_out))
    return truncate("\n".join([headline, *kept]), MAX_SECTION_TEXT)


def _trail_line(entry: AuditEntry, view: ApprovalView) -> str:
    line = (
        f"{slack_time(entry.at)} · {actor_label(entry, view)} · {kind_label(entry.kind)}"
        f" · _{source_label(entry.source)}_"
    )
    if entry.detail and entry.detail.strip():
        line += f" · {agent_text(entry.detail, DETAIL_CHARS)}"
    return truncate(line, _LINE_CHARS)


def approvals_list_text(pending: list[ApprovalView], recent: list[ApprovalView]) -> str:
    """`/desk approvals`: what waits for a decision, then what was decided recently."""
    if not pending and not recent:
        return ":sparkles: No refund approvals are waiting, and none were decided recently."
    pending_head = f"*Waiting for approval ({len(pending)})*"
    recent_head = "*Recently decided*"
    more = "_…and {} more_"
    budget = MAX_SECTION_TEXT - len(pending_head) - len(recent_head) - 2 * len(more) - 20
    pending_lines, pending_left = fit_lines([_pending_line(v) for v in pending], budget)
    if not pending_lines and not pending_left:
        pending_lines = ["_Nothing waiting_"]
    budget -= sum(len(line) + 1 for line in pending_lines)
    recent_lines, recent_left = fit_lines([_recent_line(v) for v in recent], budget)
    parts = [pending_head, *pending_lines]
    if pending_left:
        parts.append(more.format(pending_left))
    if recent_lines or recent_left:
        parts.extend([recent_head, *recent_lines])
        if recent_left:
            parts.append(more.format(recent_left))
    return truncate("\n".join(parts), MAX_SECTION_TEXT)


def _pending_line(view: ApprovalView) -> str:
    line = (
        f"• {agent_text(view.request_id, 200)} · *{requested_amount(view)}*"
        f" · by {agent_text(view.requested_by)}"
        f" · asked {slack_time(view.created_at, '{ago}')}"
        f" · expires {slack_time(view.expires_at)}"
    )
    if view.required_approvals > 1:
        line += f" · {len(view.votes)} of {view.required_approvals} approvals"
    if view.escalated_at is not None:
        line += " · escalated"
    return truncate(line, _LINE_CHARS)


def _recent_line(view: ApprovalView) -> str:
    status = STATUS_LABELS.get(view.status, agent_text(str(view.status)))
    line = f"• {agent_text(view.request_id, 200)} · {approved_amount(view)} · {status}"
    if view.decided_by and view.status != ApprovalStatus.EXPIRED:
        line += f" by {mention(view.decided_by)}"
    if view.decided_at is not None:
        line += f" · {slack_time(view.decided_at, '{ago}')}"
    return truncate(line, _LINE_CHARS)
