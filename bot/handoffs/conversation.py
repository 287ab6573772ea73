"""Agents' replies in a handoff's Slack thread: to the customer, or internal notes.

The convention (docs/escalations.md): the claiming agent's replies go to the customer;
a reply starting with `//` or `note:` stays internal, and so does anything written by
someone who has not claimed the handoff.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import structlog

from bot.clock import Clock
from bot.handoffs import effects
from bot.handoffs.slack_text import is_internal_note, to_plain_text
from bot.handoffs.view import HandoffStatus
from bot.outbox.kinds import OutboxKind
from storage.db import Database
from storage.limits import ACTOR, PUBLIC_ID, clean_text

log = structlog.get_logger(__name__)


class ReplyOutcome(StrEnum):
    SENT = "sent"
    NOTE = "note"
    DUPLICATE = "duplicate"
    NOT_A_HANDOFF = "not_a_handoff"
    IGNORED = "ignored"  # ids no Slack event has: nothing to store them in


# Slack cuts a message at 40,000 characters, so nothing longer is a real reply.
SLACK_TEXT = 40_000


@dataclass(frozen=True)
class ThreadReply:
    channel: str
    thread_ts: str
    ts: str
    user_id: str
    text: str


class HandoffConversation:
    def __init__(self, db: Database, *, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def thread_reply(self, reply: ThreadReply) -> ReplyOutcome:
        now = self._clock.now()
        if len(reply.ts) > PUBLIC_ID or len(reply.user_id) > ACTOR:
            return ReplyOutcome.IGNORED
        # PostgreSQL can neither store nor even compare a NUL: cleaned before any query.
        reply = ThreadReply(
            channel=clean_text(reply.channel),
            thread_ts=clean_text(reply.thread_ts),
            ts=clean_text(reply.ts),
            user_id=clean_text(reply.user_id),
            text=clean_text(reply.text)[:SLACK_TEXT],
        )
        async with self._db.uow() as uow:
            handoff = await uow.handoffs.by_thread(reply.channel, reply.thread_ts)
            if handoff is None:
                return ReplyOutcome.NOT_A_HANDOFF
            to_customer = (
                handoff.status == HandoffStatus.CLAIMED
                and reply.user_id == handoff.claimed_by
                and not is_internal_note(reply.text)
            )
            direction = "agent" if to_customer else "note"
            # Keyed on the message ts: Slack's redeliveries (same or new event_id) collapse.
            stored = await uow.handoffs.add_message(
                handoff.id,
                direction=direction,
                external_id=reply.ts,
                text=reply.text,
                at=now,
                author_id=reply.user_id,
                author_name=handoff.claimed_by_name if to_customer else None,
            )
            if not stored:
                return ReplyOutcome.DUPLICATE
            message_id = f"slack-{reply.ts}"
            plain = to_plain_text(reply.text)
            if to_customer:
                await effects.send_to_customer(
                    uow,
                    handoff,
                    message_id=message_id,
                    text=plain,
                    agent={"id": reply.user_id, "name": handoff.claimed_by_name or reply.user_id},
                    now=now,
                    slack_ref={"channel": reply.channel, "ts": reply.ts},
                )
            elif not is_internal_note(reply.text) and handoff.status in (
                HandoffStatus.QUEUED,
                HandoffStatus.CLAIMED,
            ):
                await effects.ephemeral(
                    uow,
                    channel=reply.channel,
                    user=reply.user_id,
                    thread_ts=reply.thread_ts,
                    text=(
                        f"Kept as an internal note: only the agent who claimed "
                        f"{handoff.reference} talks to the customer. Claim it to reply."
                    ),
                    key=f"note-hint:{reply.channel}:{reply.ts}",
                    now=now,
                )
            await effects.ticket_operation(
                uow,
                handoff,
                OutboxKind.TICKET_COMMENT,
                {"body": plain, "public": to_customer, "author": reply.user_id},
                key=message_id,
                now=now,
            )
            await uow.commit()
        log.info(
            "handoff.thread_reply",
            handoff_id=handoff.handoff_id,
            direction=direction,
            user=reply.user_id,
            ts=reply.ts,
        )
        return ReplyOutcome.SENT if to_customer else ReplyOutcome.NOTE
