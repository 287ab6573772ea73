"""The Slack Web API client and the translation of its failures into integrations.errors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from integrations.errors import NotFound, RateLimited, Rejected, Unavailable

SYSTEM = "slack"
# Errors that mean "this message/thread is gone": retrying will not bring it back.
GONE = {"message_not_found", "thread_not_found", "channel_not_found", "is_archived"}
TRANSIENT = {
    "ratelimited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
}


def make_slack_client(*, token: str, base_url: str, timeout: float) -> AsyncWebClient:
    # The async client honours Retry-After only with the rate-limit handler added
    # explicitly. A 429 means Slack did nothing, so repeating is safe. A 5xx or a dropped
    # connection may come after Slack posted: those go back to the outbox, which looks for
    # the message before posting again (client-level retries would post it twice).
    handlers: list[AsyncRetryHandler] = [AsyncRateLimitErrorRetryHandler(max_retry_count=2)]
    return AsyncWebClient(
        token=token, base_url=base_url, timeout=int(max(1, timeout)), retry_handlers=handlers
    )


@asynccontextmanager
async def translated(method: str) -> AsyncIterator[None]:
    try:
        yield
    except SlackApiError as exc:
        raise _translate(method, exc) from exc
    except (TimeoutError, aiohttp.ClientError, ConnectionError) as exc:
        raise Unavailable(SYSTEM, f"{method}: {type(exc).__name__}") from exc


def _translate(method: str, exc: SlackApiError) -> Exception:
    response = exc.response
    status = int(getattr(response, "status_code", 200) or 200)
    data = response.data if isinstance(getattr(response, "data", None), dict) else {}
    error = str(data.get("error", "")) if isinstance(data, dict) else ""
    if status == 429 or error == "ratelimited":
        headers = getattr(response, "headers", {}) or {}
        raw = headers.get("Retry-After") or headers.get("retry-after")
        retry_after = float(raw) if raw and str(raw).isdigit() else None
        return RateLimited(SYSTEM, f"{method}: rate limited", retry_after=retry_after)
    if status >= 500 or error in TRANSIENT:
        return Unavailable(SYSTEM, f"{method}: HTTP {status} {error}".strip())
    if error in GONE:
        return NotFound(SYSTEM, f"{method}: {error}", status=status)
    return Rejected(SYSTEM, f"{method}: {error or 'HTTP ' + str(status)}", status=status)


async def call(method: str, request: Awaitable[AsyncSlackResponse]) -> dict[str, Any]:
    """Await one Web API call, with failures mapped to our error hierarchy."""
    async with translated(method):
        response = await request
    data = response.data
    return data if isinstance(data, dict) else {}
