"""The running app with a fault proxy (tests/support/fault_proxy.py) between it and ONE
outside system, for tests/e2e/test_outages.py.

``outage_world(system, database_url)`` starts the stand-ins, a proxy in front of
``system``'s and the app with that system's URL setting pointing at the proxy; every
other system is reached directly. Unlike ``tests.support.harness.running`` it gives the
app's HTTP clients a short timeout (``TIMEOUT``), so a ``slow`` answer costs a fraction of
a second of real time, not the harness's 2 s per attempt. Everything else is as there:
the FakeClock drives the outbox, the circuit breakers and the retry schedules.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import aiohttp
from aiohttp.test_utils import TestServer
from slack_sdk.web.async_client import AsyncWebClient

from bot.app import create_app
from bot.clock import FakeClock
from bot.demo.chatbot_standin import ChatbotStandIn
from bot.slack_api import PacedWebClient
from integrations.http import HttpClient
from integrations.payments.local import LocalPayments
from integrations.slack_pacing import SlackPacer
from tests.support.approvals_e2e import (
    APPROVAL_CHANNEL,
    APPROVER,
    APPROVER_GROUP,
    GROUP_APPROVER,
    PAYMENT,
    SECOND_APPROVER,
    ApprovalHarness,
)
from tests.support.custom_standin import CustomStandIn
from tests.support.fault_proxy import FaultProxy
from tests.support.harness import CHANNEL, WEBHOOK_SECRET, Harness, settings_for, standins
from tests.support.harness_data import AGENT, LEAD, OTHER_AGENT
from tests.support.intercom_standin import IntercomStandIn
from tests.support.stripe_standin import API_KEY, StripeStandIn
from tests.support.ticketing_e2e import EMAILS, SECRET, StandIn
from tests.support.zendesk_standin import ZendeskStandIn

__all__ = ["APPROVALS", "SYSTEMS", "TICKETING", "TIMEOUT", "System", "World", "outage_world"]

System = Literal["slack", "chatbot", "agent", "zendesk", "intercom", "custom", "stripe"]
SYSTEMS: tuple[System, ...] = (
    "slack",
    "chatbot",
    "agent",
    "zendesk",
    "intercom",
    "custom",
    "stripe",
)
TICKETING = frozenset({"zendesk", "intercom", "custom"})
APPROVALS = frozenset({"agent", "stripe"})
# The app's HTTP timeout (Slack's client and the shared one). Short, so that a slow answer
# is cheap; long enough for the spec-checking stand-ins to answer when healthy.
TIMEOUT = 0.15
# Enough for every refund the scenarios ask for (1250 each) from the one payment.
PAYMENT_TOTAL = 1_000_000


@dataclass
class World:
    system: System
    proxy: FaultProxy
    desk: Harness
    tickets: StandIn | None = None  # the ticketing stand-in behind the proxy
    approvals: ApprovalHarness | None = None
    agent: ChatbotStandIn | None = None  # the AI agent's callback receiver
    stripe: StripeStandIn | None = None
    local_payments: LocalPayments | None = None

    def violations(self) -> list[str]:
        """Contract violations any spec-checking stand-in saw."""
        found = list(self.desk.slack.violations)
        if self.tickets is not None:
            found += self.tickets.violations
        if self.stripe is not None:
            found += self.stripe.violations
        return found


def _ticketing_settings(standin: StandIn, url: str) -> dict[str, Any]:
    if isinstance(standin, ZendeskStandIn):
        return {
            "DESKHAND_TICKETING": "zendesk",
            "ZENDESK_URL": url,
            "ZENDESK_EMAIL": standin.api_email,
            "ZENDESK_API_TOKEN": standin.api_token,
            "ZENDESK_WEBHOOK_SECRET": SECRET,
        }
    if isinstance(standin, IntercomStandIn):
        return {
            "DESKHAND_TICKETING": "intercom",
            "INTERCOM_URL": url,
            "INTERCOM_ACCESS_TOKEN": standin.access_token,
            "INTERCOM_ADMIN_ID": standin.deskhand_admin_id,
            "INTERCOM_CLIENT_SECRET": SECRET,
        }
    return {
        "DESKHAND_TICKETING": "custom",
        "CUSTOM_TICKETING_URL": url,
        "CUSTOM_TICKETING_TOKEN": standin.token,
        "CUSTOM_TICKETING_WEBHOOK_SECRET": SECRET,
        "DESKHAND_TICKET_POLL_INTERVAL": 0,  # its events come by webhook here
    }


async def _ticketing_standin(system: System, stack: AsyncExitStack) -> StandIn:
    standin: StandIn
    if system == "zendesk":
        standin = ZendeskStandIn(webhook_secret=SECRET)
    elif system == "intercom":
        standin = IntercomStandIn(webhook_secret=SECRET)
    else:
        standin = CustomStandIn(webhook_secret=SECRET)
    await standin.start()
    stack.push_async_callback(standin.stop)
    for user in (AGENT, OTHER_AGENT, LEAD):
        standin.add_agent(EMAILS[user[0]], user[1].title())
    return standin


async def _proxy(target: str, stack: AsyncExitStack) -> FaultProxy:
    proxy = await FaultProxy(target).start()
    stack.push_async_callback(proxy.stop)
    return proxy


async def _no_wait(seconds: float) -> None:
    """The pacer's sleep on a clock that moves only when the test says."""


def _pace_on(client: AsyncWebClient, clock: FakeClock) -> None:
    """The app's Slack pacer, on the test's clock: its waits and a 429's pause pass as the
    test moves the clock, like every other wait in the app, instead of in real seconds."""
    if isinstance(client, PacedWebClient) and client.pacer is not None:
        client.pacer = SlackPacer(monotonic=lambda: clock.now().timestamp(), sleep=_no_wait)


@asynccontextmanager
async def outage_world(system: System, database_url: str) -> AsyncIterator[World]:
    """The app with the fault proxy in front of ``system`` (healthy until told otherwise)."""
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    async with AsyncExitStack() as stack:
        slack, chatbot = await stack.enter_async_context(standins(clock))
        # Slack knows the people's e-mails, so tickets can be assigned by e-mail.
        for user in (AGENT, OTHER_AGENT, LEAD):
            slack.add_user(user[0], user[1], user[1].title(), EMAILS[user[0]])
        # The bot is in its channels before its first post (manifest.yml): their history
        # is readable, as its look-before-posting-again expects.
        slack.add_channel(CHANNEL, "escalations")
        slack_url, chatbot_url = slack.base_url, chatbot.url
        extra: dict[str, Any] = {
            "DESKHAND_HTTP_TIMEOUT": TIMEOUT,
            # One agent claims a handoff in every phase (without resolving it, for Slack).
            "DESKHAND_MAX_OPEN_CLAIMS": 10,
            # Every request and retry would be an info line: the warnings tell the story.
            "DESKHAND_LOG_LEVEL": "WARNING",
            "DESKHAND_OUTBOX_POLL_INTERVAL": 30,
        }
        world: dict[str, Any] = {}
        payments: LocalPayments | None = None
        if system in TICKETING:
            standin = await _ticketing_standin(system, stack)
            proxy = await _proxy(standin.url, stack)
            extra |= _ticketing_settings(standin, proxy.url_for(standin.url))
            world["tickets"] = standin
        elif system in APPROVALS:
            agent = ChatbotStandIn(secret=WEBHOOK_SECRET, now=lambda: clock.now().timestamp())
            await agent.start()
            stack.push_async_callback(agent.stop)
            for user in (APPROVER, SECOND_APPROVER, GROUP_APPROVER):
                slack.add_user(user[0], user[1], user[1].title())
            slack.add_usergroup(APPROVER_GROUP, [GROUP_APPROVER[0]])
            slack.add_channel(APPROVAL_CHANNEL, "approvals")
            extra |= {
                "DESKHAND_APPROVAL_CHANNEL": APPROVAL_CHANNEL,
                "DESKHAND_APPROVERS": f"{APPROVER[0]},{SECOND_APPROVER[0]},{APPROVER_GROUP}",
            }
            world["agent"] = agent
            if system == "agent":
                proxy = await _proxy(agent.url, stack)
                extra["DESKHAND_AGENT_CALLBACK_URL"] = proxy.url_for(agent.url)
                payments = LocalPayments({PAYMENT: (PAYMENT_TOTAL, "usd")})
                world["local_payments"] = payments
            else:
                stripe = StripeStandIn()
                await stripe.start()
                stack.push_async_callback(stripe.stop)
                stripe.add_payment(PAYMENT, PAYMENT_TOTAL, "usd")
                proxy = await _proxy(stripe.url, stack)
                extra["DESKHAND_AGENT_CALLBACK_URL"] = agent.url
                extra |= {
                    "DESKHAND_PAYMENTS": "stripe",
                    "STRIPE_API_URL": proxy.url_for(stripe.url),
                    "STRIPE_API_KEY": API_KEY,
                }
                world["stripe"] = stripe
        elif system == "slack":
            proxy = await _proxy(slack.base_url, stack)
            slack_url = proxy.url_for(slack.base_url)
        else:
            proxy = await _proxy(chatbot.url, stack)
            chatbot_url = proxy.url_for(chatbot.url)

        settings = settings_for(database_url, slack_url, chatbot_url, **extra)
        # As the harness's client (few in-client retries, tiny backoff, the breaker on the
        # test's clock), with the short timeout.
        http_client = HttpClient(
            timeout=TIMEOUT,
            max_attempts=2,
            backoff_base=0.01,
            backoff_max=0.02,
            monotonic=lambda: clock.now().timestamp(),
        )
        app = create_app(settings, clock=clock, http=http_client, payments=payments)
        _pace_on(app.slack, clock)
        server = TestServer(app.web)
        await server.start_server()
        stack.push_async_callback(server.close)
        session = await stack.enter_async_context(aiohttp.ClientSession())
        desk = Harness(app, server, slack, chatbot, clock, session)
        # Real Slack ts are the time of the post, and the look-before-posting-again
        # searches from shortly before the row was queued: the stand-in's ts follow the clock.
        desk.slack_ts_follow_clock()
        out = World(system, proxy, desk, **world)
        if out.tickets is not None:
            out.tickets.webhook_url = desk.url(f"/webhooks/tickets/{system}")
        if out.agent is not None:
            await app.permissions.refresh(app.directory)
            out.approvals = ApprovalHarness(
                desk, out.agent, local=out.local_payments, stripe=out.stripe
            )
        yield out
