"""The escalation channel's alert about a ticket given up on, posted once and rebuilt
from the stored fallback as it is retried and resolved."""

from __future__ import annotations

from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.handoffs.mapping import message_marker
from bot.outbox.dispatcher import Permanent
from bot.outbox.kinds import OutboxKind
from bot.outbox.slack_effects import SlackEffects
from bot.slack_api import call
from bot.tickets.blocks import TicketAlertView, ticket_alert
from storage.db import Database
from storage.outbox import OutboxMessage


class AlertEffects:
    def __init__(
        self,
        db: Database,
        client: AsyncWebClient,
        slack: SlackEffects,
        *,
        channel: str | None,
    ) -> None:
        self._db = db
        self._client = client
        self._slack = slack
        self._channel = channel

    def effects(self) -> dict[str, Any]:
        return {OutboxKind.SLACK_TICKET_ALERT: self.ticket_alert}

    async def ticket_alert(self, message: OutboxMessage) -> None:
        handoff_id, kind = message.payload["handoff_id"], message.payload["kind"]
        async with self._db.reads() as uow:
            handoff = await uow.handoffs.get(handoff_id)
            fallback = await uow.fallbacks.get(handoff.id, kind) if handoff else None
        if handoff is None or fallback is None:
            raise Permanent(f"no {kind} fallback for handoff {handoff_id}")
        view = TicketAlertView(
            handoff_id=handoff_id,
            reference=handoff.reference,
            system=handoff.ticket_system or "ticketing",
            kind=kind,
            status=fallback.status,
            attempts=fallback.attempts,
            last_error=fallback.last_error,
            offline_reference=handoff.offline_reference,
            ticket_id=handoff.ticket_id,
            retried_by=fallback.retried_by,
            at=fallback.updated_at,
        )
        rendered = ticket_alert(view)
        marker = message_marker(handoff_id, f"alert:{kind}")
        rendered["blocks"][0] = {**rendered["blocks"][0], "block_id": marker}
        if fallback.alert_ts and fallback.alert_channel:
            await call(
                "chat.update",
                self._client.chat_update(
                    channel=fallback.alert_channel, ts=fallback.alert_ts, **rendered
                ),
            )
            return
        if not self._channel:
            raise Permanent("DESKHAND_ESCALATION_CHANNEL is not set")
        channel, ts = self._channel, None
        if message.attempts > 1:  # a lost answer must not post the alert twice
            ts = await self._slack.find_in_history(channel, marker, since=message.created_at)
        if ts is None:
            data = await call(
                "chat.postMessage", self._client.chat_postMessage(channel=channel, **rendered)
            )
            ts, channel = str(data["ts"]), str(data.get("channel") or channel)
        async with self._db.uow() as uow:
            await uow.fallbacks.set_alert(fallback.id, channel=channel, ts=ts)
            await uow.commit()
