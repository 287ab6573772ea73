"""Block Kit for the ticketing side: mirrored comments, notes, dead-letter alerts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.handoffs.blocks_transcript import (
    MAX_BUTTON_TEXT,
    MAX_FALLBACK_TEXT,
    MAX_SECTION_TEXT,
    context,
    section,
)
from bot.text import escape_mrkdwn, safe_text, split_text, truncate
from bot.tickets.actions import TicketAction

_COMMENT_SECTIONS = 5


def ticketing_comment(text: str, *, author: str, system: str, public: bool) -> dict[str, Any]:
    """An agent's comment made in the ticketing system, for the handoff's thread."""
    who = truncate(safe_text(author), 80)
    where = escape_mrkdwn(system)
    lead = (
        f":incoming_envelope: *{who}* replied in {where} (sent to the customer):\n"
        if public
        else f":lock: *{who}* added an internal note in {where}:\n"
    )
    body = safe_text(text) if text.strip() else "_(empty comment)_"
    room = MAX_SECTION_TEXT - len(lead)
    body = truncate(body, room * _COMMENT_SECTIONS)
    blocks = [
        section(lead + piece if i == 0 else piece) for i, piece in enumerate(split_text(body, room))
    ]
    return {"text": truncate(f"{who} in {system}: {body}", MAX_FALLBACK_TEXT), "blocks": blocks}


def ticketing_note(text: str) -> dict[str, Any]:
    """A notice about the ticket, from text that may hold outside values (escaped)."""
    safe = truncate(safe_text(text), MAX_FALLBACK_TEXT)
    return {"text": safe, "blocks": [context(safe)]}


@dataclass(frozen=True)
class TicketAlertView:
    handoff_id: str
    reference: str
    system: str
    kind: str  # offline | assignment
    status: str  # dead | pending | resolved
    attempts: int
    last_error: str | None
    offline_reference: str | None
    ticket_id: str | None
    retried_by: str | None
    at: datetime


def ticket_alert(view: TicketAlertView) -> dict[str, Any]:
    """The escalation channel's alert for a ticket given up on, rebuilt as it changes."""
    system = escape_mrkdwn(view.system)
    ref = escape_mrkdwn(view.reference)
    what = (
        f"could not be filed in {system}"
        if view.kind == "offline"
        else f"could not be assigned in {system}"
    )
    if view.status == "resolved":
        done = f"#{escape_mrkdwn(view.ticket_id)}" if view.ticket_id else "done"
        head = f":white_check_mark: The ticket for {ref} went through after all: {done}."
    elif view.status == "pending":
        by = f" by <@{view.retried_by}>" if view.retried_by else ""
        head = f":repeat: Retrying the ticket for {ref}{by}; {system} is being tried again."
    else:
        head = f":rotating_light: The ticket for {ref} {what} after {view.attempts} attempts."
    lines = [head]
    if view.offline_reference and view.status != "resolved":
        lines.append(f"The customer was given the offline reference {view.offline_reference}.")
    if view.last_error and view.status == "dead":
        lines.append(f"Last error: {safe_text(truncate(view.last_error, 300))}")
    text = "\n".join(lines)
    blocks: list[dict[str, Any]] = [section(truncate(text, MAX_SECTION_TEXT))]
    if view.status == "dead":
        blocks.append(
            {
                "type": "actions",
                "block_id": f"ticket_alert:{view.handoff_id}"[:255],
                "elements": [
                    {
                        "type": "button",
                        "action_id": TicketAction.RETRY.value,
                        "value": view.handoff_id,
                        "style": "primary",
                        "text": {
                            "type": "plain_text",
                            "text": truncate("Retry now", MAX_BUTTON_TEXT),
                        },
                    }
                ],
            }
        )
    return {"text": truncate(text, MAX_FALLBACK_TEXT), "blocks": blocks}
