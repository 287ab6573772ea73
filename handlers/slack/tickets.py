"""The Retry button on a dead-letter alert: the ticket is tried again right away."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_bolt.context.ack.async_ack import AsyncAck

from bot.tickets.actions import TicketAction
from handlers.slack.errors import report

if TYPE_CHECKING:
    from bot.app import Deskhand


def install(app: Deskhand) -> None:
    @app.bolt.action(TicketAction.RETRY.value)
    async def on_retry(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        handoff_id, user = action["value"], body["user"]["id"]

        async def work() -> None:
            # Anyone in the escalation channel may ask for a retry: it only tries again
            # what already failed, and the alert records who asked.
            await app.tickets.retries.retry_now(handoff_id, by=user)

        async def on_error(error: Exception) -> None:
            await report(app, error, body)

        app.after_ack.submit(work, on_error=on_error, name=f"ticket_retry:{handoff_id}")
