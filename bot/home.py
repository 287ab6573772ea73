"""App Home: the agent's availability toggle and the open handoffs."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from bot.handoffs.view import HandoffStatus
from bot.text import safe_text, truncate
from storage.models import Handoff


class HomeAction(StrEnum):
    SET_AVAILABLE = "desk_set_available"
    SET_AWAY = "desk_set_away"


def home_view(*, available: bool, handoffs: list[Handoff]) -> dict[str, Any]:
    state = ":large_green_circle: *Available*" if available else ":white_circle: *Away*"
    toggle = (
        {"text": "Go away", "action_id": HomeAction.SET_AWAY}
        if available
        else {"text": "I'm available", "action_id": HomeAction.SET_AVAILABLE, "style": "primary"}
    )
    button: dict[str, Any] = {
        "type": "button",
        "action_id": toggle["action_id"],
        "text": {"type": "plain_text", "text": toggle["text"]},
        "value": "toggle",
    }
    if "style" in toggle:
        button["style"] = toggle["style"]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "deskhand"}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"You are {state}."},
            "accessory": button,
        },
        {"type": "divider"},
        {"type": "header", "text": {"type": "plain_text", "text": "Open handoffs"}},
    ]
    if not handoffs:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "Nothing waiting."}})
    for handoff in handoffs[:40]:
        who = (
            f"claimed by <@{handoff.claimed_by}>"
            if handoff.status == HandoffStatus.CLAIMED
            else "waiting"
        )
        summary = truncate(safe_text(handoff.summary), 200)
        blocks.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f"*{handoff.reference}* · {handoff.priority} · {who}\n{summary}",
                },
            }
        )
    return {"type": "home", "blocks": blocks}
