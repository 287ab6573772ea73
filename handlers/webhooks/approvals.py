"""POST /webhooks/approvals (an AI agent asks) and GET /api/approvals/{request_id} (it polls)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from bot.approvals.payloads import ApprovalIn
from handlers.expect import add_route
from handlers.webhooks.common import parse, read_signed_json

if TYPE_CHECKING:
    from bot.app import Deskhand


def install(app: Deskhand) -> None:
    secret = app.settings.webhook_secret

    async def new_request(request: web.Request) -> web.Response:
        payload = parse(ApprovalIn, await read_signed_json(request, secret=secret, clock=app.clock))
        result = await app.approvals.requests.accept(payload)
        return web.json_response(result.body, status=202 if result.created else 200)

    async def decision(request: web.Request) -> web.Response:
        # Signed like a webhook: the signature covers the empty body.
        await read_signed_json(request, secret=secret, clock=app.clock)
        body = await app.approvals.requests.decision(request.match_info["request_id"])
        return web.json_response(body)

    add_route(app.web, "POST", "/webhooks/approvals", new_request)
    add_route(app.web, "GET", "/api/approvals/{request_id}", decision)
