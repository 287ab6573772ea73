"""Block Kit for handoffs: the escalation message and the notices in its thread.

Every builder is pure and takes a `HandoffView`. Text from customers, the chatbot or vendors
goes through `safe_text`; Slack user ids and history lines are ours and are used as they are.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from bot.handoffs.actions import HandoffAction, HandoffBlock
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
    recent_turn_blocks,
    section,
    slack_time,
    transcript_needs_thread,
    transcript_thread_messages,
)
from bot.handoffs.view import EvidenceItem, HandoffStatus, HandoffView, Priority, TicketInfo
from bot.text import escape_mrkdwn, safe_text, split_text, truncate

__all__ = [
    "customer_message",
    "handoff_message",
    "status_notice",
    "transcript_needs_thread",
    "transcript_thread_messages",
]

PRIORITY_EMOJI = {
    Priority.URGENT: ":rotating_light:",
    Priority.HIGH: ":red_circle:",
    Priority.NORMAL: ":large_blue_circle:",
    Priority.LOW: ":white_circle:",
}
REASON_LABELS = {
    "no_evidence": "No evidence found",
    "conflict": "Conflicting evidence",
    "low_confidence": "Low confidence",
    "missing_entitlement": "Missing entitlement",
    "customer_request": "Customer asked for a person",
    "other": "Other",
}
MAX_EVIDENCE = 5
MAX_QUESTIONS = 5
MAX_HISTORY = 3
MAX_URL = 1000
_TITLE_CHARS = 200
_QUESTION_CHARS = 300
_HISTORY_CHARS = 300
_NAME_CHARS = 100
_CUSTOMER_MESSAGE_SECTIONS = 45
# Stored ids are trusted, but only something shaped like a user id becomes a mention.
_SLACK_USER_ID = re.compile(r"[UW][A-Z0-9]{2,30}")


def handoff_message(view: HandoffView, *, marker: str) -> dict[str, Any]:
    """The escalation message; its first block carries `marker` so it can be found again."""
    blocks: list[Block] = [
        header(_headline(view), block_id=marker),
        _fields(view),
        _summary(view.summary),
        *_evidence(view.evidence),
        *_questions(view.suggested_questions),
        *recent_turn_blocks(view),
        *_history(view.history),
        *_actions(view),
    ]
    return {"text": _fallback(view), "blocks": blocks}


def customer_message(text: str, *, customer_name: str | None) -> dict[str, Any]:
    """The customer's new message, for the handoff's thread."""
    name = truncate(safe_text((customer_name or "").strip()) or "Customer", _NAME_CHARS)
    body = safe_text(text) if text.strip() else "_(empty message)_"
    lead = f":speech_balloon: *{name}* wrote:\n"
    room = MAX_SECTION_TEXT - len(lead)
    body = truncate(body, room * _CUSTOMER_MESSAGE_SECTIONS)
    blocks = [
        section(lead + piece if index == 0 else piece)
        for index, piece in enumerate(split_text(body, room))
    ]
    fallback = truncate(f"{name} wrote: {body}", MAX_FALLBACK_TEXT)
    return {"text": fallback, "blocks": blocks}


def status_notice(text: str) -> dict[str, Any]:
    """A short thread notice from text we wrote ourselves (mentions and links work)."""
    if not text.strip():
        raise ValueError("a status notice needs text")
    text = truncate(text, MAX_FALLBACK_TEXT)
    return {"text": text, "blocks": [context(text)]}


def _customer_label(view: HandoffView) -> str:
    candidates = (view.customer_name, view.customer_email, view.customer_id)
    label = next((c for c in candidates if c and c.strip()), "unknown customer")
    return truncate(safe_text(label.strip()), _NAME_CHARS)


def _summary(summary: str) -> Block:
    return section(f"*Summary*\n{safe_text(summary) if summary.strip() else '_No summary_'}")


def _headline(view: HandoffView) -> str:
    emoji = PRIORITY_EMOJI.get(view.priority, "")
    return f"{emoji} {escape_mrkdwn(view.reference)} · {_customer_label(view)}".strip()


def _fallback(view: HandoffView) -> str:
    summary = safe_text(view.summary)
    text = (
        f"{view.priority.value.capitalize()} handoff {escape_mrkdwn(view.reference)} "
        f"from {_customer_label(view)}: {summary}"
    )
    return truncate(text, MAX_FALLBACK_TEXT)


def _fields(view: HandoffView) -> Block:
    customer = [
        truncate(safe_text(part.strip()), _NAME_CHARS)
        for part in (view.customer_name, view.customer_email, view.customer_id)
        if part and part.strip()
    ]
    reason = REASON_LABELS.get(view.reason) or safe_text(view.reason.replace("_", " "))
    fields = {
        "Customer": "\n".join(customer),
        "Priority": f"{PRIORITY_EMOJI.get(view.priority, '')} {view.priority.value.capitalize()}",
        "Reason": reason,
        "Intent": safe_text(view.intent or ""),
        "Department": safe_text(view.department or ""),
        "Ticket": _ticket(view.ticket),
        "Status": _status(view),
        "Opened": slack_time(view.created_at),
    }
    return {
        "type": "section",
        "fields": [
            mrkdwn(truncate(f"*{name}*\n{value.strip() or '—'}", MAX_FIELD_TEXT))
            for name, value in fields.items()
        ],
    }


def _ticket(ticket: TicketInfo | None) -> str:
    if ticket is None or not (ticket.id or ticket.offline_reference):
        note = f"\n:warning: {escape_mrkdwn(ticket.note)}" if ticket and ticket.note else ""
        return "Pending" + note
    system = escape_mrkdwn(ticket.system)
    if ticket.id:
        label = truncate(f"{system} #{escape_mrkdwn(ticket.id)}", _TITLE_CHARS)
        lines = [_link(ticket.url, label)]
        lines.append(
            f"assigned to {_mention(ticket.assignee)}" if ticket.assignee else "unassigned"
        )
    else:
        reference = escape_mrkdwn(ticket.offline_reference or "")
        lines = [truncate(f"offline reference {reference}", _TITLE_CHARS)]
    if ticket.note:
        lines.append(f":warning: {escape_mrkdwn(truncate(ticket.note, 300))}")
    return "\n".join(lines)


def _status(view: HandoffView) -> str:
    match view.status:
        case HandoffStatus.QUEUED:
            return ":hourglass_flowing_sand: Queued, waiting for an agent"
        case HandoffStatus.CLAIMED:
            return f":raising_hand: Claimed by {_mention(view.claimed_by)}"
        case HandoffStatus.RESOLVED:
            return f":white_check_mark: Resolved by {_mention(view.resolved_by)}"
        case HandoffStatus.RETURNED_TO_BOT:
            return ":robot_face: Returned to the bot"


def _mention(user_id: str | None) -> str:
    if user_id is None:
        return "an agent"
    if _SLACK_USER_ID.fullmatch(user_id):
        return f"<@{user_id}>"
    return truncate(safe_text(user_id), _NAME_CHARS)


def _link(url: str | None, label: str) -> str:
    """`<url|label>` for a plain http(s) URL; anything else shows the label only."""
    if not url or len(url) > MAX_URL or not url.isprintable():
        return label
    if any(char in url for char in "|<> "):
        return label
    try:
        parts = urlsplit(url)
    except ValueError:
        return label
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return label
    return f"<{url.replace('&', '&amp;')}|{label}>"


def _evidence(items: tuple[EvidenceItem, ...]) -> list[Block]:
    if not items:
        return []
    lines: list[str] = []
    used = len("*Evidence*") + len("\n_+99999 more_")
    for item in items[:MAX_EVIDENCE]:
        line = f"\n• {_evidence_line(item)}"
        if used + len(line) > MAX_SECTION_TEXT:
            break
        lines.append(line)
        used += len(line)
    more = len(items) - len(lines)
    tail = f"\n_+{more} more_" if more else ""
    return [section("*Evidence*" + "".join(lines) + tail)]


def _evidence_line(item: EvidenceItem) -> str:
    title = truncate(safe_text(item.title.strip()), _TITLE_CHARS) or "Untitled"
    line = _link(item.url, title)
    if item.score is not None:
        line += f" · `{item.score:.2f}`"
    return line


def _questions(questions: tuple[str, ...]) -> list[Block]:
    asked = [q.strip() for q in questions if q.strip()]
    shown = [truncate(safe_text(q), _QUESTION_CHARS) for q in asked[:MAX_QUESTIONS]]
    if not shown:
        return []
    more = len(asked) - len(shown)
    tail = f"\n_+{more} more_" if more > 0 else ""
    return [section("*Suggested questions*\n" + "\n".join(f"• {q}" for q in shown) + tail)]


def _history(history: tuple[str, ...]) -> list[Block]:
    recent = [line for line in history if line.strip()][-MAX_HISTORY:]
    lines = [truncate(line, _HISTORY_CHARS) for line in recent]
    return [context("\n".join(lines))] if lines else []


def _actions(view: HandoffView) -> list[Block]:
    if view.status == HandoffStatus.QUEUED:
        buttons = [_button(view, HandoffAction.CLAIM, "Claim", style="primary")]
    elif view.status == HandoffStatus.CLAIMED:
        reference = escape_mrkdwn(view.reference)
        buttons = [
            _button(view, HandoffAction.RELEASE, "Release"),
            _button(
                view,
                HandoffAction.RESOLVE,
                "Resolve",
                style="primary",
                confirm=_confirm(
                    f"Resolve {reference}?",
                    "The customer is told their request is resolved.",
                    "Resolve",
                ),
            ),
            _button(
                view,
                HandoffAction.RETURN_TO_BOT,
                "Return to bot",
                confirm=_confirm(
                    f"Return {reference} to the bot?",
                    "The bot takes the conversation back and the handoff leaves the queue.",
                    "Return to bot",
                ),
            ),
        ]
    else:
        return []
    return [{"type": "actions", "block_id": HandoffBlock.ACTIONS.value, "elements": buttons}]


def _button(
    view: HandoffView,
    action: HandoffAction,
    label: str,
    *,
    style: str | None = None,
    confirm: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return button(action.value, label, view.handoff_id, style=style, confirm=confirm)


def _confirm(title: str, text: str, confirm: str) -> dict[str, Any]:
    return {
        "title": plain(truncate(title, 100)),
        "text": plain(truncate(text, 300)),
        "confirm": plain(truncate(confirm, 30)),
        "deny": plain("Cancel"),
    }
