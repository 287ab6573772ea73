"""What bot processes talk to, in the test process: the Slack, chatbot, AI agent, Stripe
and custom ticketing stand-ins on free ports, the environment that points a bot at them,
and a client that sends the bot signed requests as the chatbot, the agent and Slack do.

A request to a process that is down or killed mid-request has no answer: the client
returns ``None`` for it, never raises, because that is what the load is made of.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import aiohttp

from bot.approvals.actions import ApprovalBlock
from bot.approvals.mapping import approval_marker
from bot.demo import slack_requests
from bot.demo.chatbot_standin import ChatbotStandIn
from bot.demo.slack_standin import SlackStandIn
from bot.handoffs.actions import HandoffBlock
from bot.handoffs.mapping import message_marker
from integrations.signing import signed_headers
from tests.support.bot_process import BotProcess, Secrets
from tests.support.custom_standin import CustomStandIn
from tests.support.slack_spec import SlackSpec
from tests.support.stripe_standin import StripeStandIn

CHANNEL = "C0ESCALATE"
APPROVAL_CHANNEL = "C0APPROVAL"
AGENTS = tuple((f"U0AGENT{i:02d}", f"agent{i}") for i in range(1, 9))
APPROVERS = (("U0APPROVE1", "ana.approver"), ("U0APPROVE2", "ben.approver"))
PAYMENT_AMOUNT = 10_000
JSONDict = dict[str, Any]

RATE_SCALE = 20.0


class World:
    """The stand-ins, started and stopped together; read by the checks."""

    def __init__(self, secrets: Secrets) -> None:
        self.secrets = secrets
        self.slack = SlackStandIn(
            bot_token=secrets.slack_bot_token, validator=SlackSpec.load().validate
        )
        # Slack's limits, enforced as fast as the bots pace to them (RATE_SCALE).
        self.slack.enforce_limits(scale=RATE_SCALE)
        now = time.time
        self.chatbot = ChatbotStandIn(secret=secrets.webhook_secret, now=now)
        self.agent = ChatbotStandIn(secret=secrets.webhook_secret, now=now)
        self.stripe = StripeStandIn(api_key=secrets.stripe_api_key)
        self.tickets = CustomStandIn(token=secrets.ticketing_token)

    async def start(self, stack: AsyncExitStack) -> None:
        await self.slack.start()
        stack.push_async_callback(self.slack.stop)
        for standin in (self.chatbot, self.agent):
            await standin.start()
            stack.push_async_callback(standin.stop)
        for other in (self.stripe, self.tickets):
            await other.start()
            stack.push_async_callback(other.stop)
        self.slack.state.next_ts = _wall_clock_ts()  # type: ignore[method-assign]
        self.slack.add_channel(CHANNEL, "escalations")
        self.slack.add_channel(APPROVAL_CHANNEL, "approvals")
        for user_id, name in AGENTS + APPROVERS:
            self.slack.add_user(user_id, name, name.title())

    def settings(self, database_url: str, **extra: str) -> dict[str, str]:
        """The environment of a bot process pointed at these stand-ins."""
        values = self.secrets.values() | {
            "SLACK_API_URL": self.slack.base_url,
            "DESKHAND_DATABASE_URL": database_url,
            "DESKHAND_ESCALATION_CHANNEL": CHANNEL,
            "DESKHAND_APPROVAL_CHANNEL": APPROVAL_CHANNEL,
            "DESKHAND_APPROVERS": ",".join(user_id for user_id, _ in APPROVERS),
            "DESKHAND_CHATBOT_CALLBACK_URL": self.chatbot.url,
            "DESKHAND_AGENT_CALLBACK_URL": self.agent.url,
            "DESKHAND_PAYMENTS": "stripe",
            "STRIPE_API_URL": self.stripe.url,
            "DESKHAND_TICKETING": "custom",
            "CUSTOM_TICKETING_URL": self.tickets.url,
            "DESKHAND_TICKET_POLL_INTERVAL": "0",
            "DESKHAND_LOG_FORMAT": "json",
            "DESKHAND_LOG_LEVEL": "INFO",
            "DESKHAND_OUTBOX_POLL_INTERVAL": "0.5",
            "DESKHAND_OUTBOX_BACKOFF_BASE": "0.2",
            "DESKHAND_OUTBOX_RETRY_CAP": "1",
            "DESKHAND_SLACK_RATE_SCALE": str(RATE_SCALE),
            # A killed process's deliveries come back after this, not after two minutes.
            "DESKHAND_OUTBOX_LEASE": "8",
            "DESKHAND_HTTP_TIMEOUT": "3",
        }
        return values | extra

    def add_payment(self, payment_id: str) -> None:
        self.stripe.add_payment(payment_id, PAYMENT_AMOUNT, "usd")

    # -- what Slack shows now ----------------------------------------------------------

    def handoff_message(self, handoff_id: str) -> JSONDict | None:
        """The handoff's top-level message as it is now (after every chat.update)."""
        marker = message_marker(handoff_id)
        for message in self.slack.messages(CHANNEL):
            if any(b.get("block_id") == marker for b in message.get("blocks") or []):
                return message
        return None

    def approval_message(self, request_id: str) -> JSONDict | None:
        marker = approval_marker(request_id)
        for message in self.slack.messages(APPROVAL_CHANNEL):
            if any(b.get("block_id") == marker for b in message.get("blocks") or []):
                return message
        return None

    def thread(self, channel: str, message: JSONDict | None) -> list[JSONDict]:
        return [] if message is None else self.slack.replies(channel, message["ts"])

    def all_messages(self) -> list[JSONDict]:
        """Every message deskhand's channels hold: top-level ones and thread replies."""
        return [
            message
            for channel in (CHANNEL, APPROVAL_CHANNEL)
            for message in self.slack.state.history.get(channel, [])
        ]


def _wall_clock_ts() -> Callable[[], str]:
    """Message ts minted from the wall clock, as Slack's are: deskhand searches history
    from shortly before it queued a post (the stand-in's own ts count up from 2023)."""
    last = 0

    def next_ts() -> str:
        nonlocal last
        last = max(last + 100, int(time.time() * 1_000_000))
        return f"{last // 1_000_000}.{last % 1_000_000:06d}"

    return next_ts


def buttons(message: JSONDict | None) -> list[str]:
    return [
        element["action_id"]
        for block in (message or {}).get("blocks") or []
        if block.get("type") == "actions"
        for element in block.get("elements", [])
    ]


class Client:
    """Signed requests to any bot process; ``None`` when it did not answer."""

    def __init__(self, secrets: Secrets, http: aiohttp.ClientSession) -> None:
        self.secrets = secrets
        self.http = http

    async def webhook(
        self, bot: BotProcess, path: str, payload: JSONDict
    ) -> tuple[int | None, Any]:
        raw = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        headers |= signed_headers(self.secrets.webhook_secret, raw, now=time.time())
        return await self._post(bot, path, raw, headers)

    async def poll_approval(self, bot: BotProcess, request_id: str) -> tuple[int | None, Any]:
        headers = signed_headers(self.secrets.webhook_secret, b"", now=time.time())
        try:
            async with self.http.get(
                bot.url(f"/api/approvals/{request_id}"), headers=headers
            ) as response:
                return response.status, await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return None, None

    async def click(
        self,
        bot: BotProcess,
        action: str,
        value: str,
        user: tuple[str, str],
        *,
        message: JSONDict | None,
        approval: bool = False,
    ) -> int | None:
        body = slack_requests.block_action(
            action_id=action,
            value=value,
            user_id=user[0],
            user_name=user[1],
            channel=APPROVAL_CHANNEL if approval else CHANNEL,
            message_ts=message["ts"] if message else "1.1",
            block_id=(ApprovalBlock.ACTIONS if approval else HandoffBlock.ACTIONS).value,
        )
        return await self._slack(bot, body)

    async def submit(
        self,
        bot: BotProcess,
        callback_id: str,
        values: dict[str, str],
        private_metadata: str,
        user: tuple[str, str],
    ) -> int | None:
        body = slack_requests.view_submission(
            callback_id=callback_id,
            values=values,
            private_metadata=private_metadata,
            user_id=user[0],
            user_name=user[1],
        )
        return await self._slack(bot, body)

    async def _slack(self, bot: BotProcess, body: str) -> int | None:
        headers = slack_requests.signed(
            self.secrets.slack_signing_secret,
            body,
            now=time.time(),
            content_type="application/x-www-form-urlencoded",
        )
        status, _ = await self._post(bot, "/slack/events", body.encode(), headers)
        return status

    async def _post(
        self, bot: BotProcess, path: str, raw: bytes, headers: dict[str, str]
    ) -> tuple[int | None, Any]:
        try:
            async with self.http.post(bot.url(path), data=raw, headers=headers) as response:
                text = await response.text()
                try:
                    return response.status, json.loads(text) if text.strip() else None
                except ValueError:
                    return response.status, text
        except (aiohttp.ClientError, TimeoutError):
            return None, None


@asynccontextmanager
async def world_and_client(secrets: Secrets | None = None) -> AsyncIterator[tuple[World, Client]]:
    """Started stand-ins and a client session (no connection reuse: a killed process's
    keep-alive connections must not be picked for the next request)."""
    secrets = secrets or Secrets()
    world = World(secrets)
    async with AsyncExitStack() as stack:
        await world.start(stack)
        connector = aiohttp.TCPConnector(force_close=True, limit=0)
        timeout = aiohttp.ClientTimeout(total=10)
        http = await stack.enter_async_context(
            aiohttp.ClientSession(connector=connector, timeout=timeout)
        )
        yield world, Client(secrets, http)
