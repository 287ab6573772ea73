"""How the harness hands deskhand a Slack request: signed over HTTP, or as an envelope over
the Socket Mode stand-in. Either way the answer is a ``SlackAnswer``, so scenario tests read
the same thing in both modes.

``slack_mode_default`` lets a test module's fixture choose the mode for every ``running``
app that does not say (the approvals harness builds its own).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, Protocol
from urllib.parse import parse_qs

import aiohttp

from bot.demo import slack_requests
from tests.support.socket_standin import SocketStandIn

SlackMode = Literal["http", "socket"]
FORM = "application/x-www-form-urlencoded"
# Interactions whose ack may carry a response (Slack's accepts_response_payload).
ANSWERABLE = frozenset({"view_submission", "block_suggestion"})
ACK_TIMEOUT = 10.0

_default: list[SlackMode] = ["http"]


def default_slack_mode() -> SlackMode:
    return _default[-1]


@contextlib.contextmanager
def slack_mode_default(mode: SlackMode) -> Iterator[None]:
    _default.append(mode)
    try:
        yield
    finally:
        _default.pop()


@dataclass(frozen=True)
class SlackAnswer:
    """What Slack got back: over HTTP the response; over the socket 200 with the ack's
    payload as JSON (status 0 when no ack came)."""

    status: int
    content_type: str
    text: str

    def json_text(self) -> str:
        """The ``text`` an answer carries: a JSON body's field, or a plain body whole."""
        if self.content_type.startswith("application/json"):
            return str(json.loads(self.text).get("text", ""))
        return self.text


class SlackDelivery(Protocol):
    async def __call__(
        self, body: str, content_type: str, *, retry_num: int | None = None
    ) -> SlackAnswer: ...


class HttpDelivery:
    """POST /slack/events, signed as Slack signs, at ``now`` (deskhand checks the timestamp
    against its injectable clock: the test's)."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        url: str,
        secret: str,
        now: Callable[[], float] = lambda: datetime.now(UTC).timestamp(),
    ) -> None:
        self._http, self._url, self._secret, self._now = http, url, secret, now

    async def __call__(
        self, body: str, content_type: str, *, retry_num: int | None = None
    ) -> SlackAnswer:
        headers = slack_requests.signed(
            self._secret, body, now=self._now(), content_type=content_type
        )
        if retry_num is not None:
            headers |= {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
        async with self._http.post(self._url, data=body, headers=headers) as response:
            text = await response.text()
            return SlackAnswer(response.status, response.content_type, text)


class SocketDelivery:
    """The same request as a Socket Mode envelope; waits for its ack."""

    def __init__(self, socket: SocketStandIn) -> None:
        self.socket = socket

    async def __call__(
        self, body: str, content_type: str, *, retry_num: int | None = None
    ) -> SlackAnswer:
        kind, payload, answerable = envelope_of(body, content_type)
        envelope_id = await self.socket.send(
            kind,
            payload,
            accepts_response_payload=answerable,
            retry_attempt=retry_num or 0,
            retry_reason="timeout" if retry_num else "",
        )
        ack = await self.socket.ack_of(envelope_id, ACK_TIMEOUT)
        if ack is None:
            return SlackAnswer(0, "", "")
        if not ack.payload:
            return SlackAnswer(200, "", "")
        return SlackAnswer(200, "application/json", json.dumps(ack.payload))


def envelope_of(body: str, content_type: str) -> tuple[str, dict[str, object], bool]:
    """An HTTP request body as Slack would send it over the socket: (type, payload,
    accepts_response_payload)."""
    if content_type != FORM:
        return "events_api", json.loads(body), False
    form = {key: values[0] for key, values in parse_qs(body, keep_blank_values=True).items()}
    if "payload" in form:
        payload = json.loads(form["payload"])
        return "interactive", payload, payload.get("type") in ANSWERABLE
    return "slash_commands", dict(form), True
