"""POST /webhooks/handoffs and /webhooks/handoffs/{handoff_id}/messages."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from bot.handoffs.payloads import CustomerMessageIn, HandoffIn
from handlers.expect import add_route
from handlers.webhooks.common import parse, read_signed_json

if TYPE_CHECKING:
    from bot.app import Deskhand


def install(app: Deskhand) -> None:
    secret = app.settings.webhook_secret

    async def new_handoff(request: web.Request) -> web.Response:
        payload = parse(HandoffIn, await read_signed_json(request, secret=secret, clock=app.clock))
        result = await app.intake.accept(payload)
        return web.json_response(result.body, status=202 if result.created else 200)

    async def customer_message(request: web.Request) -> web.Response:
        data = await read_signed_json(request, secret=secret, clock=app.clock)
        message = parse(CustomerMessageIn, data)
        result = await app.intake.customer_message(request.match_info["handoff_id"], message)
        return web.json_response(result.body, status=202 if result.created else 200)

    add_route(app.web, "POST", "/webhooks/handoffs", new_handoff)
    add_route(app.web, "POST", "/webhooks/handoffs/{handoff_id}/messages", customer_message)
