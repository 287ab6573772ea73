"""POST /slack/events: an aiohttp request becomes a Bolt request, and back."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.request.async_request import AsyncBoltRequest

from handlers.webhooks.common import read_body

if TYPE_CHECKING:
    from bot.app import Deskhand


def _kind(payload: dict[str, object]) -> str:
    if "command" in payload:
        return "slash_command"
    kind = payload.get("type")
    return str(kind) if isinstance(kind, str) else "unknown"


def install(app: Deskhand) -> None:
    async def slack_events(request: web.Request) -> web.Response:
        started = time.perf_counter()
        body = await read_body(request)  # the size cap applies to Slack too
        bolt_request = AsyncBoltRequest(
            body=body.decode("utf-8", errors="replace"),
            query=request.query_string,
            headers={k.lower(): request.headers.getall(k) for k in request.headers},
        )
        bolt_response = await app.bolt.async_dispatch(bolt_request)
        response = await to_aiohttp_response(bolt_response)
        app.metrics.slack_ack_seconds.labels(kind=_kind(bolt_request.body)).observe(
            time.perf_counter() - started
        )
        return response

    app.web.router.add_post("/slack/events", slack_events)
