"""POST /slack/events: a verified aiohttp request becomes a Bolt request, and back.

Slack's signature is checked here, by the same path as every other signed endpoint
(integrations/verification.py) and against the injectable clock, before Bolt parses
anything: Bolt's own parser raises on a body it cannot read, which would be a 500. In Socket
Mode Slack's requests arrive over the socket only, so this route acts on nothing.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.request.async_request import AsyncBoltRequest

from handlers.slack.envelopes import malformed
from handlers.webhooks.common import WebhookError, error_response, read_body
from integrations.verification import SLACK, require_secret

if TYPE_CHECKING:
    from bot.app import Deskhand

# Headers that steer Bolt itself (lazy listeners): never taken from the outside.
_BOLT_INTERNAL = "x-slack-bolt-"


def _kind(payload: dict[str, object]) -> str:
    if "command" in payload:
        return "slash_command"
    kind = payload.get("type")
    return str(kind) if isinstance(kind, str) else "unknown"


def _bolt_request(request: web.Request, body: bytes) -> AsyncBoltRequest:
    """Bolt's view of a verified request; a 422 for a body Slack would never send."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WebhookError(422, "invalid_payload", "The body is not UTF-8.") from exc
    headers: dict[str, str | Sequence[str]] = {
        name.lower(): request.headers.getall(name)
        for name in request.headers
        if not name.lower().startswith(_BOLT_INTERNAL)
    }
    try:
        bolt_request = AsyncBoltRequest(body=text, query=request.query_string, headers=headers)
    except Exception as exc:
        # Bolt's parser raises whatever the body provokes (bad JSON in payload=, a JSON
        # array where an object belongs, nesting too deep): the sender's fault, not ours.
        raise WebhookError(422, "invalid_payload", "The body is not a Slack payload.") from exc
    if not isinstance(bolt_request.body, dict):
        raise WebhookError(422, "invalid_payload", "The body is not a Slack payload.")
    reason = malformed(bolt_request.body)
    if reason is not None:
        raise WebhookError(422, "invalid_payload", f"The body is not a Slack payload: {reason}.")
    return bolt_request


def _refusal(status: int) -> web.Response:
    """Bolt's own refusals in the contract's JSON shape. A 5xx is a listener that failed
    (the database, say): Slack sends the request again, as it would after a 500."""
    if status >= 500:
        return error_response(503, "unavailable", "deskhand could not handle this; try again.")
    if status == 404:
        return error_response(404, "unhandled", "Nothing in deskhand handles this request.")
    return error_response(status, "refused", "deskhand refused this request.")


def install(app: Deskhand) -> None:
    if app.settings.socket_mode:

        async def socket_mode_only(request: web.Request) -> web.Response:
            raise WebhookError(
                404, "not_found", "deskhand uses Socket Mode: Slack's requests come over it."
            )

        app.web.router.add_post("/slack/events", socket_mode_only)
        return

    signing_secret = app.settings.slack_signing_secret
    secret = signing_secret.get_secret_value() if signing_secret else None

    async def slack_events(request: web.Request) -> web.Response:
        started = time.perf_counter()
        key = require_secret(secret, "SLACK_SIGNING_SECRET")
        body = await read_body(request)  # the size cap applies to Slack too
        SLACK.verify(key, request.headers, body, now=app.clock.now().timestamp())
        bolt_request = _bolt_request(request, body)
        bolt_response = await app.bolt.async_dispatch(bolt_request)
        response = (
            await to_aiohttp_response(bolt_response)
            if bolt_response.status < 400
            else _refusal(bolt_response.status)
        )
        app.metrics.slack_ack_seconds.labels(kind=_kind(bolt_request.body)).observe(
            time.perf_counter() - started
        )
        return response

    app.web.router.add_post("/slack/events", slack_events)
