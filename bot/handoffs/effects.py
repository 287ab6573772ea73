"""The outbox rows a handoff's changes produce, written in the caller's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from bot.handoffs.mapping import status_callback
from bot.outbox.kinds import OutboxKind, chatbot_order, slack_order, ticket_order
from storage.models import Handoff
from storage.outbox import OutboxBuffer
from storage.uow import UnitOfWork


class WritesOutbox(Protocol):
    """A unit of work, or the rows of a transaction run in one trip (intake.py)."""

    @property
    def outbox(self) -> OutboxBuffer: ...


async def refresh_message(uow: WritesOutbox, handoff: Handoff, *, now: datetime) -> None:
    """Re-render the Slack message from stored state (posts it the first time)."""
    await uow.outbox.add(
        OutboxKind.SLACK_HANDOFF_MESSAGE,
        {"handoff_id": handoff.handoff_id},
        key=f"handoff_message:{handoff.handoff_id}:v{handoff.version}",
        ordering_key=slack_order(handoff.handoff_id),
        now=now,
    )


async def thread_transcript(uow: WritesOutbox, handoff: Handoff, *, now: datetime) -> None:
    """The whole conversation in the thread, for a message too small to hold it. Queued with
    the first post (the transcript never changes), so it follows the post and goes before
    anything written in the thread later, an outage in between or not."""
    await uow.outbox.add(
        OutboxKind.SLACK_TRANSCRIPT,
        {"handoff_id": handoff.handoff_id},
        key=f"transcript:{handoff.handoff_id}",
        ordering_key=slack_order(handoff.handoff_id),
        now=now,
    )


async def post_in_thread(
    uow: UnitOfWork, handoff: Handoff, message: dict[str, Any], *, key: str, now: datetime
) -> None:
    await uow.outbox.add(
        OutboxKind.SLACK_THREAD_MESSAGE,
        {"handoff_id": handoff.handoff_id, "message": message, "marker_part": key},
        key=f"thread:{handoff.handoff_id}:{key}",
        ordering_key=slack_order(handoff.handoff_id),
        now=now,
    )


async def tell_customer_status(
    uow: WritesOutbox,
    handoff: Handoff,
    status: str,
    *,
    message: str,
    now: datetime,
    agent: dict[str, str] | None = None,
    key_suffix: str = "",
    queue_position: int | None = None,
    estimated_wait_seconds: int | None = None,
) -> None:
    body = status_callback(
        handoff,
        status,
        message=message,
        agent=agent,
        queue_position=queue_position,
        estimated_wait_seconds=estimated_wait_seconds,
    )
    await uow.outbox.add(
        OutboxKind.CHATBOT_CALLBACK,
        {"body": body},
        key=f"handoff_status:{handoff.handoff_id}:{status}:v{handoff.version}{key_suffix}",
        ordering_key=chatbot_order(handoff.handoff_id),
        now=now,
    )


async def send_to_customer(
    uow: UnitOfWork,
    handoff: Handoff,
    *,
    message_id: str,
    text: str,
    agent: dict[str, str],
    now: datetime,
    slack_ref: dict[str, str] | None = None,
) -> None:
    body = {
        "type": "agent_message",
        "handoff_id": handoff.handoff_id,
        "session_id": handoff.session_id,
        "message_id": message_id,
        "text": text,
        "agent": agent,
    }
    await uow.outbox.add(
        OutboxKind.CHATBOT_CALLBACK,
        {"body": body, "delivered_reaction": slack_ref},
        key=f"agent_message:{handoff.handoff_id}:{message_id}",
        ordering_key=chatbot_order(handoff.handoff_id),
        now=now,
    )


async def ticket_operation(
    uow: WritesOutbox,
    handoff: Handoff,
    kind: OutboxKind,
    payload: dict[str, Any],
    *,
    key: str,
    now: datetime,
) -> None:
    await uow.outbox.add(
        kind,
        {"handoff_id": handoff.handoff_id, **payload},
        key=f"{kind}:{handoff.handoff_id}:{key}",
        ordering_key=ticket_order(handoff.handoff_id),
        now=now,
    )


async def ephemeral(
    uow: UnitOfWork,
    *,
    channel: str,
    user: str,
    text: str,
    key: str,
    now: datetime,
    thread_ts: str | None = None,
) -> None:
    await uow.outbox.add(
        OutboxKind.SLACK_EPHEMERAL,
        {"channel": channel, "user": user, "text": text, "thread_ts": thread_ts},
        key=f"ephemeral:{key}",
        now=now,
    )


async def refresh_ticket_alert(
    uow: UnitOfWork, handoff_id: str, kind: str, *, state: str, now: datetime
) -> None:
    """Post, or rebuild from stored state, the channel's alert about a ticket given up on
    (``state``: what changed, dead, retrying or resolved, part of the idempotency key)."""
    await uow.outbox.add(
        OutboxKind.SLACK_TICKET_ALERT,
        {"handoff_id": handoff_id, "kind": kind},
        key=f"ticket_alert:{handoff_id}:{kind}:{state}:{now.isoformat()}",
        ordering_key=f"alert:{handoff_id}:{kind}",
        now=now,
    )
