"""The conversation of a handoff: its last turns in the message, all of it in the thread.

This is the lower of the two block modules, so it also holds the Slack limits and the few
element builders that `blocks.py` shares.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.handoffs.view import HandoffView, TranscriptTurn
from bot.text import escape_mrkdwn, safe_text, split_text, truncate

Block = dict[str, Any]

MAX_SECTION_TEXT = 3000
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_BUTTON_TEXT = 75
MAX_CONTEXT_ELEMENTS = 10
MAX_FALLBACK_TEXT = 3000

RECENT_TURNS = 6
TURN_PREVIEW_CHARS = 500
# Well below what Slack accepts, so that each part of a long transcript stays readable.
THREAD_MESSAGE_BLOCKS = 40
THREAD_MESSAGE_CHARS = 12_000


def plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def header(text: str, *, block_id: str | None = None) -> Block:
    block: Block = {"type": "header", "text": plain(truncate(text, MAX_HEADER_TEXT))}
    if block_id is not None:
        block["block_id"] = block_id
    return block


def button(
    action_id: str,
    label: str,
    value: str,
    *,
    style: str | None = None,
    confirm: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A button carrying an entity's public id as its value."""
    element: dict[str, Any] = {
        "type": "button",
        "action_id": action_id,
        "text": plain(truncate(label, MAX_BUTTON_TEXT)),
        "value": value,
    }
    if style is not None:
        element["style"] = style
    if confirm is not None:
        element["confirm"] = confirm
    return element


def section(text: str) -> Block:
    return {"type": "section", "text": mrkdwn(truncate(text, MAX_SECTION_TEXT))}


def context(*texts: str) -> Block:
    elements = [mrkdwn(truncate(text, MAX_SECTION_TEXT)) for text in texts if text]
    return {"type": "context", "elements": elements[:MAX_CONTEXT_ELEMENTS]}


def slack_time(at: datetime, layout: str = "{date_short_pretty} {time}") -> str:
    """A date Slack shows in each reader's own time zone; naive datetimes are taken as UTC."""
    aware = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    fallback = aware.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(aware.timestamp())}^{layout}|{fallback}>"


def turn_label(turn: TranscriptTurn) -> str:
    label = "*Customer*" if turn.role == "customer" else "*Bot*"
    return label if turn.at is None else f"{label} · {slack_time(turn.at, '{time}')}"


def transcript_needs_thread(view: HandoffView) -> bool:
    """Whether the message leaves out any of the conversation, so the thread must carry it."""
    if len(view.transcript) > RECENT_TURNS:
        return True
    return _needs_thread(view, [_turn_text(turn) for turn in view.transcript[-RECENT_TURNS:]])


def recent_turn_blocks(view: HandoffView) -> list[Block]:
    """The last turns of the conversation, shortened, for the handoff message itself."""
    recent = view.transcript[-RECENT_TURNS:]
    texts = [_turn_text(turn) for turn in recent]
    blocks = [
        section(f"{turn_label(turn)}\n{truncate(text, TURN_PREVIEW_CHARS)}")
        for turn, text in zip(recent, texts, strict=True)
    ]
    if _needs_thread(view, texts):
        count = len(view.transcript)
        noun = "turn" if count == 1 else "turns"
        blocks.append(context(f":thread: Full transcript ({count} {noun}) in the thread"))
    return blocks


def transcript_thread_messages(view: HandoffView) -> list[dict[str, Any]]:
    """The whole conversation as thread messages, each within Slack's limits."""
    if not view.transcript:
        return []
    reference = escape_mrkdwn(view.reference)
    count = len(view.transcript)
    intro = [
        header(f"Full transcript of {reference}"),
        context(f"{count} {'turn' if count == 1 else 'turns'}, oldest first"),
    ]
    turn_blocks = [block for turn in view.transcript for block in _turn_sections(turn)]
    parts = _pack(turn_blocks, first_reserved=len(intro))
    messages: list[dict[str, Any]] = []
    for number, blocks in enumerate(parts, start=1):
        suffix = f" (part {number} of {len(parts)})" if len(parts) > 1 else ""
        title = f"Full transcript of {reference}{suffix}"
        lead = intro if number == 1 else [context(title)]
        messages.append({"text": truncate(title, MAX_FALLBACK_TEXT), "blocks": [*lead, *blocks]})
    return messages


def _needs_thread(view: HandoffView, recent_texts: list[str]) -> bool:
    too_many = len(view.transcript) > RECENT_TURNS
    return too_many or any(len(text) > TURN_PREVIEW_CHARS for text in recent_texts)


def _turn_text(turn: TranscriptTurn) -> str:
    return safe_text(turn.text) if turn.text.strip() else "_(empty message)_"


def _turn_sections(turn: TranscriptTurn) -> list[Block]:
    label = turn_label(turn)
    room = MAX_SECTION_TEXT - len(label) - len(" _(continued)_\n")
    pieces = split_text(_turn_text(turn), room)
    return [
        section(f"{label}{' _(continued)_' if index else ''}\n{piece}")
        for index, piece in enumerate(pieces)
    ]


def _pack(blocks: list[Block], *, first_reserved: int) -> list[list[Block]]:
    """Group blocks into messages; one block of room is kept for each later part's lead."""
    parts: list[list[Block]] = [[]]
    reserved = first_reserved
    chars = 0
    for block in blocks:
        size = len(block["text"]["text"])
        full = len(parts[-1]) + reserved >= THREAD_MESSAGE_BLOCKS
        if parts[-1] and (full or chars + size > THREAD_MESSAGE_CHARS):
            parts.append([])
            reserved = 1
            chars = 0
        parts[-1].append(block)
        chars += size
    return parts
