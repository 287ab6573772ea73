"""Outbox effects that talk to Slack. Messages are rendered from stored state at delivery.

A crash between a post and the commit that records its ts must not post twice: on any
attempt after the first, the effect looks for its marker block before posting again.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import structlog
from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import Clock
from bot.handoffs import blocks
from bot.handoffs.mapping import message_marker, to_view
from bot.outbox.dispatcher import NotReady, Permanent
from bot.outbox.kinds import OutboxKind, slack_order
from bot.slack_api import call, maybe_applied
from integrations.errors import Rejected, Unavailable
from storage.db import Database
from storage.models import Handoff
from storage.outbox import OutboxMessage

SEARCH_PAGES = 5

log = structlog.get_logger(__name__)


def _slack_ts(when: datetime) -> str:
    return f"{when.timestamp():.6f}"


def _markers(message: dict[str, Any]) -> set[str]:
    return {str(b.get("block_id")) for b in message.get("blocks") or [] if b.get("block_id")}


def _with_marker(message: dict[str, Any], marker: str) -> dict[str, Any]:
    message_blocks = [dict(b) for b in message.get("blocks", [])]
    if message_blocks:
        message_blocks[0]["block_id"] = marker
    return {**message, "blocks": message_blocks}


class SlackEffects:
    def __init__(
        self, db: Database, client: AsyncWebClient, *, clock: Clock, channel: str | None
    ) -> None:
        self._db = db
        self._client = client
        self._clock = clock
        self._channel = channel

    def effects(self) -> dict[str, Any]:
        return {
            OutboxKind.SLACK_HANDOFF_MESSAGE: self.handoff_message,
            OutboxKind.SLACK_TRANSCRIPT: self.transcript,
            OutboxKind.SLACK_THREAD_MESSAGE: self.thread_message,
            OutboxKind.SLACK_EPHEMERAL: self.ephemeral,
            OutboxKind.SLACK_REACTION: self.reaction,
        }

    async def _handoff(self, handoff_id: str) -> tuple[Handoff, list[Any], list[Any]]:
        async with self._db.reads() as uow:
            handoff = await uow.handoffs.get(handoff_id)
            if handoff is None:
                raise Permanent(f"handoff {handoff_id} is gone")
            events = await uow.handoffs.recent_events(handoff.id)
            fallbacks = await uow.fallbacks.of_handoff(handoff.id)
        return handoff, events, fallbacks

    async def post_or_update(
        self,
        message: OutboxMessage,
        rendered: dict[str, Any],
        *,
        marker: str,
        posted: tuple[str | None, str | None],
        channel: str | None,
        setting: str,
    ) -> tuple[str, str] | None:
        """Update the message already ``posted`` (channel, ts), or post ``rendered`` to
        ``channel`` once: an attempt after the first looks for ``marker`` before posting.
        The new (channel, ts) when it posted, for the caller to store; None when updated."""
        posted_channel, posted_ts = posted
        if posted_channel and posted_ts:
            await call(
                "chat.update",
                self._client.chat_update(channel=posted_channel, ts=posted_ts, **rendered),
            )
            return None
        if not channel:
            raise Permanent(f"{setting} is not set")
        ts = None
        if message.attempts > 1:  # a lost answer must not post it twice
            ts = await self.find_in_history(channel, marker, since=message.created_at)
        if ts is None:
            data = await call(
                "chat.postMessage", self._client.chat_postMessage(channel=channel, **rendered)
            )
            ts, channel = str(data["ts"]), str(data.get("channel") or channel)
        return channel, ts

    async def handoff_message(self, message: OutboxMessage) -> None:
        handoff_id = message.payload["handoff_id"]
        handoff, events, fallbacks = await self._handoff(handoff_id)
        view = to_view(handoff, events, fallbacks)
        marker = message_marker(handoff_id)
        new = await self.post_or_update(
            message,
            blocks.handoff_message(view, marker=marker),
            marker=marker,
            posted=(handoff.slack_channel, handoff.slack_ts),
            channel=self._channel,
            setting="DESKHAND_ESCALATION_CHANNEL",
        )
        if new is None:
            return
        channel, ts = new
        now = self._clock.now()
        async with self._db.uow() as uow:
            await uow.handoffs.update(handoff_id, {"slack_channel": channel, "slack_ts": ts})
            if blocks.transcript_needs_thread(view):
                # Queued at intake (bot/handoffs/effects.py, the same key: ignored here);
                # this covers a handoff taken in by a release that queued it only now.
                await uow.outbox.add(
                    OutboxKind.SLACK_TRANSCRIPT,
                    {"handoff_id": handoff_id},
                    key=f"transcript:{handoff_id}",
                    ordering_key=slack_order(handoff_id),
                    now=now,
                )
            await uow.commit()

    async def transcript(self, message: OutboxMessage) -> None:
        handoff_id = message.payload["handoff_id"]
        handoff, _, _ = await self._handoff(handoff_id)
        channel, thread_ts = self._thread_of(handoff)
        parts = blocks.transcript_thread_messages(to_view(handoff))
        posted = await self.markers_in_thread(channel, thread_ts) if message.attempts > 1 else set()
        for index, part in enumerate(parts):
            marker = message_marker(handoff_id, f"transcript:{index}")
            if marker not in posted:
                await self._post_in_thread(channel, thread_ts, _with_marker(part, marker))

    async def thread_message(self, message: OutboxMessage) -> None:
        handoff_id = message.payload["handoff_id"]
        handoff, _, _ = await self._handoff(handoff_id)
        channel, thread_ts = self._thread_of(handoff)
        marker = message_marker(handoff_id, message.payload["marker_part"])
        if message.attempts > 1 and marker in await self.markers_in_thread(channel, thread_ts):
            return
        await self._post_in_thread(
            channel, thread_ts, _with_marker(message.payload["message"], marker)
        )

    async def ephemeral(self, message: OutboxMessage) -> None:
        p = message.payload
        args: dict[str, Any] = {"channel": p["channel"], "user": p["user"], "text": p["text"]}
        if p.get("thread_ts"):
            args["thread_ts"] = p["thread_ts"]
        try:
            await call("chat.postEphemeral", self._client.chat_postEphemeral(**args))
        except Unavailable as exc:
            if not maybe_applied(exc):
                raise
            # Slack may have shown it already, and an ephemeral cannot be looked up before
            # showing it again: a hint shown once or not at all beats one shown per retry.
            log.warning(
                "slack.ephemeral_maybe_shown",
                outbox_id=message.id,
                channel=p["channel"],
                user=p["user"],
                error=str(exc),
            )

    async def reaction(self, message: OutboxMessage) -> None:
        p = message.payload
        try:
            await call(
                "reactions.add",
                self._client.reactions_add(channel=p["channel"], timestamp=p["ts"], name=p["name"]),
            )
        except Rejected as exc:
            if "already_reacted" not in str(exc):
                raise

    def _thread_of(self, handoff: Handoff) -> tuple[str, str]:
        if not handoff.slack_ts or not handoff.slack_channel:
            raise NotReady("the handoff message is not posted yet", retry_in=10)
        return handoff.slack_channel, handoff.slack_ts

    async def _post_in_thread(self, channel: str, thread_ts: str, message: dict[str, Any]) -> None:
        await call(
            "chat.postMessage",
            self._client.chat_postMessage(channel=channel, thread_ts=thread_ts, **message),
        )

    async def find_in_history(self, channel: str, marker: str, *, since: datetime) -> str | None:
        oldest = _slack_ts(since - timedelta(minutes=5))
        cursor: str | None = None
        for _ in range(SEARCH_PAGES):
            data = await call(
                "conversations.history",
                self._client.conversations_history(
                    channel=channel, oldest=oldest, limit=200, cursor=cursor
                ),
            )
            for item in data.get("messages", []):
                if marker in _markers(item):
                    return str(item["ts"])
            cursor = (data.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return None
        return None

    async def markers_in_thread(self, channel: str, thread_ts: str) -> set[str]:
        found: set[str] = set()
        cursor: str | None = None
        for _ in range(SEARCH_PAGES):
            data = await call(
                "conversations.replies",
                self._client.conversations_replies(
                    channel=channel, ts=thread_ts, limit=200, cursor=cursor
                ),
            )
            for item in data.get("messages", []):
                found |= _markers(item)
            cursor = (data.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                break
        return found
