"""The Slack Web API client and the translation of its failures into integrations.errors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from integrations.errors import NotFound, RateLimited, Rejected, Unavailable
from integrations.slack_pacing import SlackPacer

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


# A 429 is tried again this many times, once its bucket's pause is over (within the pacer's
# bound): a 429 means Slack did nothing, so repeating is safe.
RETRIES_AFTER_429 = 2
# Where a method's arguments name the channel its per-channel limit counts against.
CHANNEL_ARGS = ("channel", "channel_id")


class PacedWebClient(AsyncWebClient):
    """The bot's client: every Web API call waits for its turn at ``pacer`` first.

    ``pacer`` None: unpaced (a plain client; benchmarks' raw baselines). The pacer, not
    slack_sdk's rate-limit handler, owns waiting out a 429: the handler's sleep is invisible
    to other callers (who would keep hitting the limit), unbounded (a long Retry-After would
    hold an outbox delivery slot) and on the real clock.
    """

    def __init__(self, *, pacer: SlackPacer | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pacer = pacer

    async def api_call(
        self,
        api_method: str,
        *,
        http_verb: str = "POST",
        files: dict[Any, Any] | None = None,
        data: dict[Any, Any] | aiohttp.FormData | None = None,
        params: dict[Any, Any] | None = None,
        json: dict[Any, Any] | None = None,
        headers: dict[Any, Any] | None = None,
        auth: dict[Any, Any] | None = None,
    ) -> AsyncSlackResponse:
        async def send() -> AsyncSlackResponse:
            return await super(PacedWebClient, self).api_call(
                api_method,
                http_verb=http_verb,
                files=files,
                data=data,
                params=params,
                json=json,
                headers=headers,
                auth=auth,
            )

        pacer = self.pacer
        if pacer is None or not pacer.paced(api_method):
            return await send()
        channel = channel_of(json, params, data)
        retries = RETRIES_AFTER_429
        while True:
            await pacer.acquire(api_method, channel)  # RateLimited beyond the pacer's bound
            try:
                return await send()
            except SlackApiError as exc:
                if _status(exc) != 429:
                    raise
                pacer.pause(api_method, channel, retry_after_of(exc.response))
                if retries <= 0:
                    raise  # translated() makes it RateLimited: the outbox defers the row
                retries -= 1


def channel_of(*sources: object) -> str | None:
    """The channel named by a call's JSON body, query or form (chat.postMessage's limit)."""
    for source in sources:
        if isinstance(source, dict):
            for name in CHANNEL_ARGS:
                value = source.get(name)
                if isinstance(value, str) and value:
                    return value
    return None


def make_slack_client(
    *, token: str, base_url: str, timeout: float, pacer: SlackPacer | None = None
) -> PacedWebClient:
    # No retry handlers (an empty list, not None, which means slack_sdk's defaults): a 5xx
    # or a dropped connection may come after Slack posted, so those go back to the outbox,
    # which looks for the message before posting again (client-level retries would post it
    # twice); a 429 is waited out by the pacer (PacedWebClient).
    return PacedWebClient(
        pacer=pacer, token=token, base_url=base_url, timeout=int(max(1, timeout)), retry_handlers=[]
    )


@asynccontextmanager
async def translated(method: str) -> AsyncIterator[None]:
    try:
        yield
    except SlackApiError as exc:
        raise _translate(method, exc) from exc
    except (TimeoutError, aiohttp.ClientError, ConnectionError) as exc:
        raise Unavailable(SYSTEM, f"{method}: {type(exc).__name__}") from exc


def maybe_applied(error: Unavailable) -> bool:
    """Whether Slack may have carried out a call that failed this way: it timed out or the
    connection broke after the request went out. A refused connection or an open circuit
    sent nothing; a 5xx is taken to mean Slack did nothing."""
    cause = error.__cause__
    if isinstance(cause, aiohttp.ClientConnectorError):
        return False
    return isinstance(cause, (TimeoutError, aiohttp.ClientError, ConnectionError))


def _status(exc: SlackApiError) -> int:
    return int(getattr(exc.response, "status_code", 200) or 200)


def retry_after_of(response: object) -> float | None:
    """A 429's Retry-After in seconds (Slack sends whole seconds), None when absent."""
    headers = getattr(response, "headers", None) or {}
    raw = headers.get("Retry-After") or headers.get("retry-after")
    try:
        value = float(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None
    return value if value is not None and 0 <= value < float("inf") else None


def _translate(method: str, exc: SlackApiError) -> Exception:
    response = exc.response
    status = _status(exc)
    data = response.data if isinstance(getattr(response, "data", None), dict) else {}
    error = str(data.get("error", "")) if isinstance(data, dict) else ""
    if status == 429 or error == "ratelimited":
        retry_after = retry_after_of(response)
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
