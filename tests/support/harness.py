"""The real app on a random port, with Slack and the chatbot replaced by local stand-ins.

Scenario tests talk to it only through signed HTTP requests and read what the stand-ins
recorded and what the database holds.
"""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import aliased

from bot.app import Deskhand, create_app
from bot.clock import FakeClock
from bot.config import Settings
from bot.demo import slack_requests
from bot.demo.chatbot_standin import ChatbotStandIn
from bot.demo.slack_standin import SlackStandIn
from bot.handoffs.mapping import message_marker
from integrations.http import HttpClient
from integrations.signing import signed_headers
from storage.models import Base, Handoff, OutboxRow
from tests.support.slack_spec import SlackSpec

CHANNEL = "C0ESCALATE"
SLACK_SECRET = "slack-signing-secret-for-tests"
WEBHOOK_SECRET = "deskhand-webhook-secret-for-tests"
AGENT = ("U0AGENT01", "ana")
OTHER_AGENT = ("U0AGENT02", "bo")
LEAD = ("U0LEAD001", "lee")

HANDOFF: dict[str, Any] = {
    "handoff_id": "sess-42:esc-1",
    "session_id": "sess-42",
    "customer": {"id": "c-9", "name": "Ada", "email": "ada@example.com"},
    "reason": "no_evidence",
    "priority": "high",
    "summary": "Customer cannot find their invoice for March.",
    "intent": "billing.invoice",
    "department": "billing",
    "transcript": [
        {"role": "customer", "text": "Where is my March invoice?", "at": "2026-01-05T08:58:00Z"},
        {"role": "bot", "text": "I could not find it.", "at": "2026-01-05T08:59:00Z"},
    ],
    "evidence": [{"title": "Invoices FAQ", "url": "https://help.example.com/inv", "score": 0.41}],
    "suggested_questions": ["Which email address is the account under?"],
}


def handoff_payload(**overrides: Any) -> dict[str, Any]:
    payload = copy.deepcopy(HANDOFF)
    payload.update(overrides)
    return payload


class Harness:
    def __init__(
        self,
        app: Deskhand,
        server: TestServer,
        slack: SlackStandIn,
        chatbot: ChatbotStandIn,
        clock: FakeClock,
        http: aiohttp.ClientSession,
    ) -> None:
        self.app, self.server, self.slack, self.chatbot = app, server, slack, chatbot
        self.clock, self.http = clock, http

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
    ) -> aiohttp.ClientResponse:
        # Bolt checks Slack's timestamp against the real clock, as Slack's would be.
        headers = slack_requests.signed(
            SLACK_SECRET, body, now=datetime.now(UTC).timestamp(), content_type=content_type
        )
        if retry_num is not None:
            headers |= {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
        async with self.http.post(self.url("/slack/events"), data=body, headers=headers) as r:
            await r.read()
            return r

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
        return (await self.slack_request(body, "application/x-www-form-urlencoded")).status

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
        headers = slack_requests.signed(
            SLACK_SECRET,
            body,
            now=datetime.now(UTC).timestamp(),
            content_type="application/x-www-form-urlencoded",
        )
        async with self.http.post(self.url("/slack/events"), data=body, headers=headers) as r:
            assert r.status == 200
            # Bolt answers ack(text=...) as text/plain, ack(blocks=...) as JSON.
            raw = await r.text()
            try:
                return str(json.loads(raw).get("text", ""))
            except ValueError:
                return raw

    # -- reading outcomes -----------------------------------------------------------

    def posted_message(self, handoff_id: str = HANDOFF["handoff_id"]) -> dict[str, Any] | None:
        marker = message_marker(handoff_id)
        for message in self.slack.messages(CHANNEL):
            if any(b.get("block_id") == marker for b in message.get("blocks") or []):
                return message
        return None

    def thread(self, handoff_id: str = HANDOFF["handoff_id"]) -> list[dict[str, Any]]:
        parent = self.posted_message(handoff_id)
        return self.slack.replies(CHANNEL, parent["ts"]) if parent else []

    async def settle(self, within: float = 10.0) -> None:
        """Deliver every outbox row that is due now, and wait until none is left."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            await self.app.dispatcher.drain()
            if await self.due_rows() == 0:
                return
            if loop.time() > deadline:
                raise AssertionError("outbox did not settle")
            await asyncio.sleep(0.01)

    async def due_rows(self) -> int:
        async with self.app.db.uow() as uow:
            count = await uow.session.scalar(
                select(func.count())
                .select_from(OutboxRow)
                .where(
                    OutboxRow.status == "pending",
                    OutboxRow.next_attempt_at <= self.clock.now(),
                )
            )
        return int(count or 0)

    async def advance(self, seconds: float) -> None:
        """Move time on and deliver what fell due."""
        self.clock.advance(seconds)
        await self.settle()

    # -- helpers for scenario tests ----------------------------------------------------

    async def count(self, model: type[Base]) -> int:
        """How many rows the table of ``model`` holds."""
        async with self.app.db.uow() as uow:
            count = await uow.session.scalar(select(func.count()).select_from(model))
        return int(count or 0)

    async def stored_handoff(self, handoff_id: str = HANDOFF["handoff_id"]) -> Handoff | None:
        async with self.app.db.uow() as uow:
            return await uow.handoffs.get(handoff_id)

    async def outbox_rows(self, kind: str | None = None) -> list[OutboxRow]:
        async with self.app.db.uow() as uow:
            query = select(OutboxRow).order_by(OutboxRow.id)
            if kind is not None:
                query = query.where(OutboxRow.kind == kind)
            return list(await uow.session.scalars(query))

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

    async def deliverable_rows(self) -> int:
        """Due rows that are being or could be delivered now: unlike ``due_rows``, a row
        waiting behind an earlier undelivered row of its ordering key (a post Slack
        refuses, say) does not count."""
        earlier = aliased(OutboxRow)
        blocked = exists().where(
            earlier.ordering_key == OutboxRow.ordering_key,
            earlier.status == "pending",
            earlier.id < OutboxRow.id,
        )
        now = self.clock.now()
        async with self.app.db.uow() as uow:
            count = await uow.session.scalar(
                select(func.count())
                .select_from(OutboxRow)
                .where(
                    OutboxRow.status == "pending",
                    OutboxRow.next_attempt_at <= now,
                    or_(OutboxRow.ordering_key.is_(None), ~blocked),
                )
            )
        return int(count or 0)

    async def settle_ready(self, within: float = 10.0) -> None:
        """Like ``settle``, for when something is down: deliver what can be delivered now
        and return once only retries, and rows queued behind them, are left."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            await self.app.dispatcher.drain()
            if await self.deliverable_rows() == 0:
                return
            if loop.time() > deadline:
                raise AssertionError("outbox did not settle")
            await asyncio.sleep(0.01)

    async def advance_ready(self, seconds: float) -> None:
        """Move time on and deliver what can be delivered (see ``settle_ready``)."""
        self.clock.advance(seconds)
        await self.settle_ready()

    def slack_ts_follow_clock(self) -> None:
        """Make the Slack stand-in mint message ts from the app's clock.

        Real Slack's ts are the wall-clock time of the post, and deskhand relies on that
        (it searches history from shortly before it queued a post); the stand-in's own ts
        count up from 2023. Call before anything is posted."""
        last = 0

        def next_ts() -> str:
            nonlocal last
            last = max(last + 100, int(self.clock.now().timestamp() * 1_000_000))
            return f"{last // 1_000_000}.{last % 1_000_000:06d}"

        self.slack.state.next_ts = next_ts  # type: ignore[method-assign]

    async def desk_command(self, text: str, user: tuple[str, str] = AGENT) -> str:
        """Run ``/desk text`` and return the answer from the ack body.

        Bolt answers ``ack(text=...)`` alone as a ``text/plain`` body (which Slack shows
        as an ephemeral), and ``ack`` with blocks or a response type as JSON; both are read.
        """
        body = slack_requests.slash_command(
            command="/desk", text=text, user_id=user[0], user_name=user[1], channel=CHANNEL
        )
        headers = slack_requests.signed(
            SLACK_SECRET,
            body,
            now=datetime.now(UTC).timestamp(),
            content_type="application/x-www-form-urlencoded",
        )
        async with self.http.post(self.url("/slack/events"), data=body, headers=headers) as r:
            assert r.status == 200, r.status
            raw = await r.text()
            if r.content_type == "application/json":
                return str(json.loads(raw).get("text", ""))
            return raw

    async def get(self, path: str) -> tuple[int, str, str]:
        """GET ``path``: status, body text and Content-Type."""
        async with self.http.get(self.url(path)) as response:
            return response.status, await response.text(), response.headers.get("Content-Type", "")

    async def wait_until(self, predicate: Callable[[], bool], within: float = 5.0) -> None:
        """Poll ``predicate`` (settling the outbox each round) until it holds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not predicate():
            if loop.time() > deadline:
                raise AssertionError("condition not met in time")
            await self.settle()
            await asyncio.sleep(0.01)


def settings_for(database_url: str, slack_url: str, chatbot_url: str, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "SLACK_BOT_TOKEN": "xoxb-test",
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
    slack = SlackStandIn(bot_token="xoxb-test", validator=SlackSpec.load().validate)
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
    **extra: Any,
) -> AsyncIterator[Harness]:
    """Start the stand-ins (unless given) and the app; stop what it started."""
    clock = clock or FakeClock(datetime.now(UTC).replace(microsecond=0))
    own_slack = slack is None
    if slack is None:
        slack = SlackStandIn(bot_token="xoxb-test", validator=SlackSpec.load().validate)
        await slack.start()
        for user in (AGENT, OTHER_AGENT, LEAD):
            slack.add_user(user[0], user[1], user[1].title())
    own_chatbot = chatbot is None
    if chatbot is None:
        chatbot = ChatbotStandIn(secret=WEBHOOK_SECRET, now=lambda: clock.now().timestamp())
        await chatbot.start()
    settings = settings_for(database_url, slack.base_url, chatbot.url, **extra)
    http_client = HttpClient(timeout=2.0, max_attempts=2, backoff_base=0.01, backoff_max=0.02)
    app = create_app(settings, clock=clock, http=http_client)
    server = TestServer(app.web)
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            yield Harness(app, server, slack, chatbot, clock, http)
    finally:
        await server.close()
        if own_chatbot:
            await chatbot.stop()
        if own_slack:
            await slack.stop()
