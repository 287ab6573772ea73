"""The escalation channel's alert about a ticket given up on, posted once and rebuilt
from the stored fallback as it is retried and resolved."""

from __future__ import annotations

from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.handoffs.mapping import message_marker
from bot.outbox.dispatcher import Permanent
from bot.outbox.kinds import OutboxKind
from bot.outbox.slack_effects import SlackEffects
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
        new = await self._slack.post_or_update(
            message,
            rendered,
            marker=marker,
            posted=(fallback.alert_channel, fallback.alert_ts),
            channel=self._channel,
            setting="DESKHAND_ESCALATION_CHANNEL",
        )
        if new is None:
            return
        channel, ts = new
        async with self._db.uow() as uow:
            await uow.fallbacks.set_alert(fallback.id, channel=channel, ts=ts)
            await uow.commit()
