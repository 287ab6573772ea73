"""Callbacks to the chatbot; a delivered agent reply gets a ✉️ reaction in Slack."""

from __future__ import annotations

from typing import Any

from bot.clock import Clock
from bot.outbox.kinds import OutboxKind
from integrations.chatbot import ChatbotCallbacks
from storage.db import Database
from storage.outbox import OutboxMessage

DELIVERED_REACTION = "incoming_envelope"


class ChatbotEffects:
    def __init__(self, db: Database, callbacks: ChatbotCallbacks, *, clock: Clock) -> None:
        self._db = db
        self._callbacks = callbacks
        self._clock = clock

    def effects(self) -> dict[str, Any]:
        return {OutboxKind.CHATBOT_CALLBACK: self.callback}

    async def callback(self, message: OutboxMessage) -> None:
        # The row's idempotency key is the callback's: every retry carries the same one.
        await self._callbacks.send(message.payload["body"], idempotency_key=message.idempotency_key)
        ref = message.payload.get("delivered_reaction")
        if ref:
            async with self._db.uow() as uow:
                await uow.outbox.add(
                    OutboxKind.SLACK_REACTION,
                    {"channel": ref["channel"], "ts": ref["ts"], "name": DELIVERED_REACTION},
                    key=f"reaction:{ref['channel']}:{ref['ts']}:{DELIVERED_REACTION}",
                    now=self._clock.now(),
                )
                await uow.commit()
