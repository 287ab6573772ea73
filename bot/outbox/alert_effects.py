"""The escalation channel's alerts: a ticket given up on, posted once and rebuilt from
the stored fallback as it is retried and resolved; and deliveries given up on (dead
letters, queued by bot/outbox/dead_letters.py), posted once each."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.handoffs.mapping import message_marker
from bot.outbox.dispatcher import Permanent
from bot.outbox.kinds import OutboxKind
from bot.outbox.operator import code_text
from bot.outbox.slack_effects import SlackEffects
from bot.text import escape_mrkdwn, truncate
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
        return {
            OutboxKind.SLACK_TICKET_ALERT: self.ticket_alert,
            OutboxKind.SLACK_DEAD_LETTER_ALERT: self.dead_letter_alert,
        }

    async def dead_letter_alert(self, message: OutboxMessage) -> None:
        payload = message.payload
        if "since" in payload:  # the summary of a window past its per-letter alerts
            since = datetime.fromisoformat(payload["since"])
            async with self._db.reads() as uow:
                letters = await uow.outbox.dead_letters(limit=None, since=since)
            text = dead_letter_summary(len(letters), since)
        else:
            text = dead_letter_text(payload)
        marker = "dl:" + hashlib.sha256(message.idempotency_key.encode()).hexdigest()[:24]
        rendered = {
            "text": truncate(text, 3000),
            "blocks": [
                {
                    "type": "section",
                    "block_id": marker,
                    "text": {"type": "mrkdwn", "text": truncate(text, 3000)},
                },
                {"type": "context", "elements": [{"type": "mrkdwn", "text": RESEND_HINT}]},
            ],
        }
        await self._slack.post_or_update(
            message,
            rendered,
            marker=marker,
            posted=(None, None),
            channel=self._channel,
            setting="DESKHAND_ESCALATION_CHANNEL",
        )

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


RESEND_HINT = (
    "`/desk deadletters` or `deskhand outbox list --dead` lists them; "
    "`deskhand outbox retry ID` sends one again (docs/operations.md)."
)


def dead_letter_text(payload: dict[str, Any]) -> str:
    """One dead letter, from the row's details frozen when it died (text is escaped)."""
    # Failing transiently for the whole give-up window, or refused outright.
    why = "kept failing for too long" if payload.get("gave_up") else "was refused"
    kind = code_text(str(payload.get("kind", "")))
    key = code_text(truncate(str(payload.get("key", "")), 200))
    error = escape_mrkdwn(truncate(str(payload.get("error") or "no error recorded"), 500))
    first_due = _when(payload.get("first_due_at"))
    return (
        f":warning: *A delivery was given up on*: it {why}.\n"
        f"• #{payload.get('outbox_id')} `{kind}`, key `{key}`\n"
        f"• {payload.get('attempts')} attempts since {first_due}\n"
        f"• last error: {error}"
    )


def dead_letter_summary(count: int, since: datetime) -> str:
    return (
        f":warning: *{count} deliveries were given up on* since {_when(since.isoformat())} "
        "(the first few were alerted one by one)."
    )


def _when(value: object) -> str:
    if not value:
        return "an unknown time"
    try:
        return datetime.fromisoformat(str(value)).strftime("%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        return escape_mrkdwn(str(value))
