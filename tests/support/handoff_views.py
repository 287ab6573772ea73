"""Shared pieces of the handoff Block Kit tests: a sample view and text extraction."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from bot.handoffs.view import HandoffStatus, HandoffView, Priority, TranscriptTurn

CREATED = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
MARKER = "handoff:sess-42:esc-1"


def make_view(**overrides: Any) -> HandoffView:
    view = HandoffView(
        handoff_id="sess-42:esc-1",
        reference="DH-1042",
        session_id="sess-42",
        status=HandoffStatus.QUEUED,
        priority=Priority.HIGH,
        reason="no_evidence",
        summary="Customer was charged twice for the May invoice.",
        customer_id="c-9",
        created_at=CREATED,
        customer_name="Ada Lovelace",
        customer_email="ada@example.com",
        intent="refund",
        department="billing",
    )
    return replace(view, **overrides)


def turns(count: int, text: str = "message") -> tuple[TranscriptTurn, ...]:
    return tuple(
        TranscriptTurn(role="customer" if i % 2 == 0 else "bot", text=f"{text} {i}")
        for i in range(count)
    )


def text_leaves(node: Any, key: str | None = None) -> Iterator[str]:
    """Every string a reader can see: the `text` of each text object, and the fallback."""
    if isinstance(node, dict):
        for child_key, child in node.items():
            yield from text_leaves(child, child_key)
    elif isinstance(node, list):
        for child in node:
            yield from text_leaves(child, key)
    elif isinstance(node, str) and key == "text":
        yield node


def all_text(message: dict[str, Any]) -> str:
    return "\n".join(text_leaves(message))
