"""POST /webhooks/tickets/{system}: the ticketing system reports a change.

Each system signs in its own scheme; the system's module verifies and parses it, and a
refusal stores nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from handlers.expect import add_route
from handlers.webhooks.common import WebhookError, read_body
from integrations.ticketing.protocol import WebhookRefused

if TYPE_CHECKING:
    from bot.app import Deskhand


def install(app: Deskhand) -> None:
    syncing = app.tickets.syncing

    async def ticket_event(request: web.Request) -> web.Response:
        system = request.match_info["system"]
        if system != syncing.system or system == "local":
            raise WebhookError(
                404, "unknown_system", f"deskhand files tickets in {syncing.system}."
            )
        body = await read_body(request)
        try:
            applied = await syncing.receive(request.headers, body)
        except WebhookRefused as exc:
            raise WebhookError(exc.status, exc.code, exc.message) from exc
        return web.json_response({"status": "accepted", "applied": applied}, status=200)

    add_route(app.web, "POST", "/webhooks/tickets/{system}", ticket_event)
