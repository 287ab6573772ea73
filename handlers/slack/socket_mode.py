"""Socket Mode envelopes: each becomes a Bolt request for the same listeners as over HTTP,
and Bolt's answer becomes the envelope's ack (with its payload: a slash command's text, a
modal's errors)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

if TYPE_CHECKING:
    from bot.app import Deskhand
    from bot.slack_socket import Dispatch


def _retry_headers(request: SocketModeRequest) -> dict[str, str | Sequence[str]]:
    # The HTTP retry headers, so listeners see a redelivery the same way in both modes.
    headers: dict[str, str | Sequence[str]] = {}
    if request.retry_attempt is not None:
        headers["x-slack-retry-num"] = str(request.retry_attempt)
    if request.retry_reason:
        headers["x-slack-retry-reason"] = request.retry_reason
    return headers


def _kind(request: SocketModeRequest) -> str:
    if request.type == "slash_commands":
        return "slash_command"
    kind = request.payload.get("type")
    return kind if isinstance(kind, str) else "unknown"


def to_ack(request: SocketModeRequest, response: BoltResponse) -> SocketModeResponse | None:
    """The ack for Bolt's answer; None (no ack: Slack sends it again) for a failure."""
    if response.status == 404:
        # Nothing listens for it (an event we do not subscribe to handling): acked, so
        # Slack stops sending it; over HTTP the 404 tells Slack the same.
        return SocketModeResponse(envelope_id=request.envelope_id)
    if response.status != 200:
        return None
    body = response.body or ""
    if not body:
        return SocketModeResponse(envelope_id=request.envelope_id)
    content_type = (response.headers.get("content-type") or [""])[0]
    if content_type.startswith("application/json"):
        return SocketModeResponse(envelope_id=request.envelope_id, payload=json.loads(body))
    return SocketModeResponse(envelope_id=request.envelope_id, payload={"text": body})


def dispatcher(app: Deskhand) -> Dispatch:
    async def dispatch(request: SocketModeRequest) -> SocketModeResponse | None:
        started = time.perf_counter()
        bolt_request = AsyncBoltRequest(
            body=request.payload, mode="socket_mode", headers=_retry_headers(request)
        )
        with app.db.serving():  # background work gives way, as for an HTTP request
            response = await app.bolt.async_dispatch(bolt_request)
        app.metrics.slack_ack_seconds.labels(kind=_kind(request)).observe(
            time.perf_counter() - started
        )
        return to_ack(request, response)

    return dispatch
