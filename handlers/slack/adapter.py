"""POST /slack/events: a verified aiohttp request becomes a Bolt request, and back.

Slack's signature is checked here, by the same path as every other signed endpoint
(integrations/verification.py) and against the injectable clock, before Bolt parses
anything: Bolt's own parser raises on a body it cannot read, which would be a 500. In Socket
Mode Slack's requests arrive over the socket only, so this route acts on nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.logger.messages import warning_unhandled_request
from slack_bolt.request import payload_utils
from slack_bolt.request.async_request import AsyncBoltRequest

from handlers.expect import add_route
from handlers.slack.envelopes import malformed
from handlers.webhooks.common import WebhookError, error_response, read_body
from integrations.verification import SLACK, require_secret
from storage.limits import clean_text

if TYPE_CHECKING:
    from bot.app import Deskhand

# Headers that steer Bolt itself (lazy listeners): never taken from the outside.
_BOLT_INTERNAL = "x-slack-bolt-"
# The views of a payload Bolt builds for every listener it tries (its kwargs).
_BOLT_PROJECTIONS: tuple[Callable[[dict[str, Any]], object], ...] = (
    payload_utils.to_options,
    payload_utils.to_shortcut,
    payload_utils.to_action,
    payload_utils.to_view,
    payload_utils.to_command,
    payload_utils.to_event,
    payload_utils.to_message,
    payload_utils.to_step,
)


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
        # What the listeners read is storable as the contract says (NUL and lone
        # surrogates as U+FFFD), as in deskhand's own webhooks.
        payload = _storable(bolt_request.body)
    except Exception as exc:
        # Bolt's parser raises whatever the body provokes (bad JSON in payload=, a JSON
        # array where an object belongs, nesting too deep): the sender's fault, not ours.
        raise WebhookError(422, "invalid_payload", "The body is not a Slack payload.") from exc
    if not isinstance(payload, dict):
        raise WebhookError(422, "invalid_payload", "The body is not a Slack payload.")
    reason = malformed(payload)
    if reason is not None:
        raise WebhookError(422, "invalid_payload", f"The body is not a Slack payload: {reason}.")
    bolt_request.body = payload  # the listeners read only the body (not Bolt's context)
    try:
        for project in _BOLT_PROJECTIONS:  # what Bolt computes for every listener it tries
            project(payload)
        warning_unhandled_request(bolt_request)  # what it logs when none handles it
    except Exception as exc:
        # e.g. a view without its type, block_actions without an action: Bolt's own
        # routing would raise outside any listener, into a 500.
        raise WebhookError(422, "invalid_payload", "The body is not a Slack payload.") from exc
    return bolt_request


def _storable(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {_storable(key): _storable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_storable(item) for item in value]
    return value


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

        add_route(app.web, "POST", "/slack/events", socket_mode_only)
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

    add_route(app.web, "POST", "/slack/events", slack_events)
