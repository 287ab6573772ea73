"""The whole app filing tickets in a ticketing stand-in: the harness of the fallback
tree's end-to-end tests. Slack users carry e-mails, and the same people are agents in
the ticketing system, so assignment by e-mail works as in a real workspace."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from bot.clock import FakeClock
from bot.demo.slack_standin import SlackStandIn
from tests.support.custom_standin import CustomStandIn
from tests.support.harness import Harness, running
from tests.support.harness_data import AGENT, BOT_TOKEN, LEAD, OTHER_AGENT
from tests.support.intercom_standin import IntercomStandIn
from tests.support.slack_spec import SlackSpec
from tests.support.zendesk_standin import ZendeskStandIn

REMOTE = ["zendesk", "intercom", "custom"]
ALL = ["local", *REMOTE]
SECRET = "67e9c78375a876edb1a9a610e9411b7e"  # the stand-ins' fake webhook secret
EMAILS = {
    AGENT[0]: "ana@support.example",
    OTHER_AGENT[0]: "bo@support.example",
    LEAD[0]: "lee@support.example",
}

StandIn = ZendeskStandIn | IntercomStandIn | CustomStandIn


def _standin(system: str) -> StandIn:
    if system == "zendesk":
        return ZendeskStandIn(webhook_secret=SECRET)
    if system == "intercom":
        return IntercomStandIn(webhook_secret=SECRET)
    return CustomStandIn(webhook_secret=SECRET)


def _settings(system: str, standin: StandIn | None) -> dict[str, Any]:
    values: dict[str, Any] = {"DESKHAND_TICKETING": system}
    if isinstance(standin, ZendeskStandIn):
        values |= {
            "ZENDESK_URL": standin.url,
            "ZENDESK_EMAIL": standin.api_email,
            "ZENDESK_API_TOKEN": standin.api_token,
            "ZENDESK_WEBHOOK_SECRET": SECRET,
        }
    elif isinstance(standin, IntercomStandIn):
        values |= {
            "INTERCOM_URL": standin.url,
            "INTERCOM_ACCESS_TOKEN": standin.access_token,
            "INTERCOM_ADMIN_ID": standin.deskhand_admin_id,
            "INTERCOM_CLIENT_SECRET": SECRET,
        }
    elif isinstance(standin, CustomStandIn):
        values |= {
            "CUSTOM_TICKETING_URL": standin.url,
            "CUSTOM_TICKETING_TOKEN": standin.token,
            "CUSTOM_TICKETING_WEBHOOK_SECRET": SECRET,
            "DESKHAND_TICKET_POLL_INTERVAL": 0,  # the tests poll when they mean to
        }
    return values


class TicketingDesk:
    """The harness plus the ticketing stand-in (None for local)."""

    def __init__(self, desk: Harness, system: str, standin: StandIn | None) -> None:
        self.desk = desk
        self.system = system
        self.standin = standin

    @property
    def remote(self) -> StandIn:
        assert self.standin is not None, "local ticketing has no stand-in"
        return self.standin

    async def sweep(self) -> None:
        """What the ticket_retries job does, then deliver what it queued."""
        await self.desk.app.tickets.retries.sweep()
        await self.desk.settle_ready()

    async def available(self, user: tuple[str, str] = AGENT) -> None:
        await self.desk.desk_command("available", user=user)
        await self.desk.settle()

    def statuses(self, handoff_id: str) -> list[dict[str, Any]]:
        return self.desk.chatbot.of_type("handoff_status", handoff_id=handoff_id)


@asynccontextmanager
async def ticketing_desk(
    system: str, database_url: str, *, webhooks: bool = True, **extra: Any
) -> AsyncIterator[TicketingDesk]:
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    slack = SlackStandIn(bot_token=BOT_TOKEN, validator=SlackSpec.load().validate)
    await slack.start()
    for user in (AGENT, OTHER_AGENT, LEAD):
        slack.add_user(user[0], user[1], user[1].title(), EMAILS[user[0]])
    standin = _standin(system) if system != "local" else None
    try:
        if standin is not None:
            await standin.start()
            for user in (AGENT, OTHER_AGENT, LEAD):
                standin.add_agent(EMAILS[user[0]], user[1].title())
        async with running(
            database_url, slack=slack, clock=clock, **(_settings(system, standin) | extra)
        ) as desk:
            if standin is not None and webhooks:
                standin.webhook_url = desk.url(f"/webhooks/tickets/{system}")
            yield TicketingDesk(desk, system, standin)
            assert slack.violations == [], slack.violations
            if standin is not None:
                assert standin.violations == [], standin.violations
    finally:
        if standin is not None:
            await standin.stop()
        await slack.stop()
