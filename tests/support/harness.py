"""The real app on a random port, with Slack and the chatbot replaced by local stand-ins.

Scenario tests talk to it only through signed HTTP requests and read what the stand-ins
recorded and what the database holds.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from bot.app import Deskhand, create_app
from bot.clock import FakeClock
from bot.config import Settings
from bot.demo import slack_requests
from bot.demo.chatbot_standin import ChatbotStandIn
from bot.demo.slack_standin import SlackStandIn
from integrations.http import HttpClient
from integrations.payments.protocol import Payments
from integrations.signing import signed_headers
from tests.support.harness_data import (
    AGENT,
    APP_TOKEN,
    BOT_TOKEN,
    CHANNEL,
    HANDOFF,
    LEAD,
    OTHER_AGENT,
    SLACK_SECRET,
    WEBHOOK_SECRET,
    handoff_payload,
)
from tests.support.harness_reads import HarnessReads
from tests.support.slack_delivery import (
    FORM,
    HttpDelivery,
    SlackAnswer,
    SlackMode,
    SocketDelivery,
    default_slack_mode,
)
from tests.support.slack_spec import SlackSpec
from tests.support.socket_standin import SocketStandIn, with_socket_methods

__all__ = [
    "AGENT",
    "APP_TOKEN",
    "BOT_TOKEN",
    "CHANNEL",
    "HANDOFF",
    "LEAD",
    "OTHER_AGENT",
    "SLACK_SECRET",
    "WEBHOOK_SECRET",
    "Harness",
    "handoff_payload",
    "running",
    "settings_for",
    "standins",
]

# Slack's limits, and deskhand's pacing to them, run this many times faster in tests.
TEST_RATE_SCALE = 20.0


class Harness(HarnessReads):
    def __init__(
        self,
        app: Deskhand,
        server: TestServer,
        slack: SlackStandIn,
        chatbot: ChatbotStandIn,
        clock: FakeClock,
        http: aiohttp.ClientSession,
        socket: SocketStandIn | None = None,
    ) -> None:
        self.app, self.server, self.slack, self.chatbot = app, server, slack, chatbot
        self.clock, self.http = clock, http
        # Socket Mode: Slack's requests go as envelopes through ``socket``; else over HTTP.
        self.socket = socket
        self.slack_mode: SlackMode = "http" if socket is None else "socket"
        self.deliver = (
            HttpDelivery(
                http, self.url("/slack/events"), SLACK_SECRET, lambda: clock.now().timestamp()
            )
            if socket is None
            else SocketDelivery(socket)
        )

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    # -- deskhand-signed webhooks ---------------------------------------------------

    async def webhook(
        self,
        path: str,
        body: dict[str, Any] | bytes,
        *,
        secret: str = WEBHOOK_SECRET,
        content_type: str = "application/json",
        timestamp: float | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        sent = {"Content-Type": content_type}
        sent |= signed_headers(secret, raw, now=timestamp or self.clock.now().timestamp())
        sent |= headers or {}
        async with self.http.post(self.url(path), data=raw, headers=sent) as response:
            return response.status, await response.json(content_type=None)

    async def handoff(self, **overrides: Any) -> tuple[int, Any]:
        return await self.webhook("/webhooks/handoffs", handoff_payload(**overrides))

    async def customer_message(
        self, handoff_id: str, message_id: str, text: str
    ) -> tuple[int, Any]:
        return await self.webhook(
            f"/webhooks/handoffs/{handoff_id}/messages", {"message_id": message_id, "text": text}
        )

    # -- Slack-signed requests ------------------------------------------------------

    async def slack_request(
        self, body: str, content_type: str, *, retry_num: int | None = None
    ) -> SlackAnswer:
        """One request from Slack, over HTTP or the socket (see ``slack_mode``)."""
        return await self.deliver(body, content_type, retry_num=retry_num)

    async def click(
        self, action: str, handoff_id: str = HANDOFF["handoff_id"], user: tuple[str, str] = AGENT
    ) -> int:
        post = self.posted_message(handoff_id)
        body = slack_requests.block_action(
            action_id=action,
            value=handoff_id,
            user_id=user[0],
            user_name=user[1],
            channel=CHANNEL,
            message_ts=post["ts"] if post else "1.1",
        )
        status = (await self.slack_request(body, FORM)).status
        await self.app.after_ack.join()  # the click's work runs right after its ack
        return status

    async def thread_reply(
        self,
        text: str,
        *,
        user: tuple[str, str] = AGENT,
        handoff_id: str = HANDOFF["handoff_id"],
        ts: str | None = None,
        event_id: str | None = None,
        retry_num: int | None = None,
    ) -> str:
        parent = self.posted_message(handoff_id)
        assert parent is not None, "the handoff is not posted yet"
        if ts is None:
            ts = self.slack.post_as_user(CHANNEL, user[0], text, thread_ts=parent["ts"])
        body = slack_requests.message_event(
            channel=CHANNEL,
            user=user[0],
            text=text,
            ts=ts,
            thread_ts=parent["ts"],
            event_id=event_id,
        )
        response = await self.slack_request(body, "application/json", retry_num=retry_num)
        assert response.status == 200
        return ts

    async def command(self, text: str, user: tuple[str, str] = AGENT) -> str:
        body = slack_requests.slash_command(
            command="/desk", text=text, user_id=user[0], user_name=user[1], channel=CHANNEL
        )
        answer = await self.slack_request(body, FORM)
        assert answer.status == 200, answer.status
        return answer.json_text()

    async def slack_event(
        self,
        event: dict[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
    ) -> int:
        """Deliver one Events API ``event_callback`` wrapping ``event``; the HTTP status."""
        body = json.dumps(
            {
                "token": "legacy-verification-token",
                "team_id": "T0DEMO",
                "api_app_id": "A0DESKHAND",
                "event": event,
                "type": "event_callback",
                "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
                "event_time": int(datetime.now(UTC).timestamp()),
            }
        )
        return (await self.slack_request(body, "application/json", retry_num=retry_num)).status

    async def desk_command(self, text: str, user: tuple[str, str] = AGENT) -> str:
        """Run ``/desk text`` and return the answer from the ack body.

        Bolt answers ``ack(text=...)`` alone as a ``text/plain`` body (which Slack shows
        as an ephemeral), and ``ack`` with blocks or a response type as JSON; both are read.
        """
        body = slack_requests.slash_command(
            command="/desk", text=text, user_id=user[0], user_name=user[1], channel=CHANNEL
        )
        answer = await self.slack_request(body, FORM)
        assert answer.status == 200, answer.status
        return answer.json_text()

    async def get(self, path: str) -> tuple[int, str, str]:
        """GET ``path``: status, body text and Content-Type."""
        async with self.http.get(self.url(path)) as response:
            return response.status, await response.text(), response.headers.get("Content-Type", "")


def settings_for(database_url: str, slack_url: str, chatbot_url: str, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SLACK_SECRET,
        "SLACK_API_URL": slack_url,
        "DESKHAND_DATABASE_URL": database_url,
        "DESKHAND_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "DESKHAND_ESCALATION_CHANNEL": CHANNEL,
        "DESKHAND_CHATBOT_CALLBACK_URL": chatbot_url,
        "DESKHAND_LEADS": LEAD[0],
        "DESKHAND_OUTBOX_POLL_INTERVAL": 0.2,
        "DESKHAND_LOG_FORMAT": "console",
    }
    values.update(extra)
    return Settings.model_validate(values)


@asynccontextmanager
async def standins(clock: FakeClock) -> AsyncIterator[tuple[SlackStandIn, ChatbotStandIn]]:
    """Stand-ins like the ones ``running`` makes, to share between apps (a restart)."""
    slack = SlackStandIn(bot_token=BOT_TOKEN, validator=SlackSpec.load().validate)
    await slack.start()
    for user in (AGENT, OTHER_AGENT, LEAD):
        slack.add_user(user[0], user[1], user[1].title())
    chatbot = ChatbotStandIn(secret=WEBHOOK_SECRET, now=lambda: clock.now().timestamp())
    await chatbot.start()
    try:
        yield slack, chatbot
    finally:
        await chatbot.stop()
        await slack.stop()


@asynccontextmanager
async def running(
    database_url: str,
    *,
    slack: SlackStandIn | None = None,
    chatbot: ChatbotStandIn | None = None,
    clock: FakeClock | None = None,
    payments: Payments | None = None,
    slack_mode: SlackMode | None = None,
    slack_limits: float = TEST_RATE_SCALE,
    **extra: Any,
) -> AsyncIterator[Harness]:
    """Start the stand-ins (unless given) and the app; stop what it started.

    ``slack_mode`` "socket" (default: ``default_slack_mode()``): Socket Mode, with a Socket
    Mode stand-in behind the Slack stand-in's apps.connections.open; the app is ready
    once its socket is.

    ``slack_limits`` (a scale): the Slack stand-in enforces Slack's rate limits and the app
    paces its calls to them (``DESKHAND_SLACK_RATE_SCALE``), both that many times faster
    than Slack, on the real monotonic clock: no test passes by exceeding what Slack allows,
    and none waits a second per post.
    """
    clock = clock or FakeClock(datetime.now(UTC).replace(microsecond=0))
    slack_mode = slack_mode or default_slack_mode()
    own_slack = slack is None
    if slack is None:
        slack = SlackStandIn(bot_token=BOT_TOKEN, validator=SlackSpec.load().validate)
        await slack.start()
        for user in (AGENT, OTHER_AGENT, LEAD):
            slack.add_user(user[0], user[1], user[1].title())
    own_chatbot = chatbot is None
    if chatbot is None:
        chatbot = ChatbotStandIn(secret=WEBHOOK_SECRET, now=lambda: clock.now().timestamp())
        await chatbot.start()
    socket: SocketStandIn | None = None
    if slack_mode == "socket":
        socket = SocketStandIn()
        await socket.start()
        slack.app_token = APP_TOKEN
        slack.serve_socket(socket.next_url)
        if slack.validator is not None:
            slack.validator = with_socket_methods(slack.validator)
        extra = {"SLACK_APP_TOKEN": APP_TOKEN, **extra}
    extra = {"DESKHAND_SLACK_RATE_SCALE": slack_limits, **extra}
    settings = settings_for(database_url, slack.base_url, chatbot.url, **extra)
    # The circuit breaker's clock is the test's: an outage "lasts" as long as the test says.
    http_client = HttpClient(
        timeout=2.0,
        max_attempts=2,
        backoff_base=0.01,
        backoff_max=0.02,
        monotonic=lambda: clock.now().timestamp(),
    )
    app = create_app(settings, clock=clock, http=http_client, payments=payments)
    if slack.limits is None:  # a stand-in the test brought may enforce its own way
        slack.enforce_limits(scale=slack_limits)
    server = TestServer(app.web)
    await server.start_server()
    try:
        if socket is not None:
            await slack.wait_for(app.socket_connected, 10, description="the socket's hello")
        async with aiohttp.ClientSession() as http:
            yield Harness(app, server, slack, chatbot, clock, http, socket)
    finally:
        await server.close()
        if socket is not None:
            await socket.stop()
        if own_chatbot:
            await chatbot.stop()
        if own_slack:
            await slack.stop()
