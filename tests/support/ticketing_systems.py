"""One interface over the four ticketing systems, for tests/integration/test_ticketing_behaviour.py.

``async with system_under_test(name, tmp_path) as sut`` gives ``sut.ticketing`` (the
implementation, on a real HttpClient whose sleeps and clock are fakes), ``sut.standin``
(the vendor stand-in; None for local), read-backs in one normalised shape (``view``), the
failure switches (``down``/``back``/``fail_next``/``reject_assignment``/
``lose_create_answer``) and agents' actions in the system. Their TicketEvents are collected
the way deskhand gets them: the stand-in's signed webhooks through ``parse_webhook``
(zendesk, intercom) or the change feed through ``changes_since`` (custom).

``sut.remote(why)`` gives the network side (switches, agents' actions, events); for local,
which has none, it skips the test with the reason.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from integrations.http import HttpClient
from integrations.ticketing.custom import CustomTicketing
from integrations.ticketing.intercom import IntercomTicketing
from integrations.ticketing.local import LocalTicketing
from integrations.ticketing.protocol import Assignee, TicketEvent
from integrations.ticketing.zendesk import ZendeskTicketing
from storage.db import Database
from storage.migrate import upgrade_database
from storage.models import Ticket
from tests.support.custom_standin import CustomStandIn
from tests.support.custom_standin_state import contract
from tests.support.databases import sqlite_url
from tests.support.intercom_standin import IntercomStandIn
from tests.support.intercom_standin_spec import openapi
from tests.support.scripted_http import FakeMonotonic, RecordingSleep
from tests.support.zendesk_standin import ZendeskStandIn

__all__ = ["NOW", "STRANGER", "SYSTEMS", "SystemUnderTest", "TicketView", "system_under_test"]

SYSTEMS = ("local", "zendesk", "intercom", "custom")
NOW = 1_800_000_000.0  # the Zendesk stand-in's webhook clock, and deskhand's when parsing
LOCAL_CLOCK = datetime(2027, 1, 15, 8, 0, tzinfo=UTC)
SECRET = "2db7272ad09b00c1fe4e5bad03d14d06"  # the stand-ins' fake signing secret
LOSE_DELAY = 1.0  # custom: answer this late, after the work, so a shorter timeout loses it
# An agent no system knows (never passed to ``agent``).
STRANGER = Assignee(slack_user_id="U0STRANGER", name="Stranger", email="stranger@example.com")
LOCAL_SKIPS = {
    "network": "local tickets live in deskhand's own database: it has no network that could "
    "be down, fail, rate-limit, lose an answer or refuse an assignment",
    "agent_directory": "local assigns by Slack user id and keeps no agent directory: any Slack "
    "user may hold a local ticket, so no agent is unknown to it",
    "sync": "local tickets change only through deskhand: no agent acts in another system, so "
    "nothing comes back as events and nothing is checked against a vendor spec",
}


@dataclass(frozen=True)
class TicketView:
    """A ticket read back from the system, in one shape for all four."""

    subject: str | None
    status: str  # open, pending, solved
    priority: str | None
    assignee_email: str | None
    comments: tuple[tuple[str, bool], ...]  # (body, public), oldest first, after the first
    metadata: Mapping[str, str]


class SystemUnderTest:
    """The interface every system offers; ``LocalSystem`` and the remote ones fill it in."""

    def __init__(self, name: str, ticketing: Any, standin: Any = None) -> None:
        self.name = name
        self.ticketing = ticketing
        self.standin = standin
        self.agents: dict[str, Assignee] = {}  # email -> the agent as deskhand names them

    async def agent(self, email: str, name: str) -> Assignee:
        """An agent the system knows, as deskhand would pass them to assign."""
        assignee = Assignee(f"U{len(self.agents) + 1:04d}", name, email)
        self.agents[email] = assignee
        if self.standin is not None:
            self.standin.add_agent(email, name)
        return assignee

    def remote(self, why: str) -> RemoteSystem:
        """This system's network side (stand-in, switches, agents acting in it). Local has
        none: such tests run on the remote systems only (LOCAL_SKIPS says why)."""
        raise AssertionError(f"local ticketing: {LOCAL_SKIPS[why]}")

    def violations(self) -> list[str]:
        return [] if self.standin is None else list(self.standin.violations)

    async def view(self, ticket_id: str) -> TicketView:
        t = self.standin.ticket(ticket_id)
        comments = tuple((c.body, c.public) for c in t.comments)
        return TicketView(
            t.subject, t.status, t.priority, t.assignee_email, comments, dict(t.metadata)
        )

    async def ticket_ids(self) -> list[str]:
        return [t.id for t in self.standin.tickets()]


class LocalSystem(SystemUnderTest):
    """Tickets in deskhand's database; agents are Slack users (emails kept here only)."""

    def __init__(self, db: Database) -> None:
        super().__init__("local", LocalTicketing(db, now=lambda: LOCAL_CLOCK))
        self.db = db

    async def view(self, ticket_id: str) -> TicketView:
        emails = {a.slack_user_id: a.email for a in self.agents.values()}
        async with self.db.uow() as uow:
            ticket = await uow.tickets.get(ticket_id)
            assert ticket is not None, f"no local ticket {ticket_id}"
            comments = tuple((c.body, c.public) for c in await uow.tickets.comments(ticket))
        assignee = emails.get(ticket.assignee, ticket.assignee) if ticket.assignee else None
        metadata = {k: str(v) for k, v in ticket.extra.items()}
        return TicketView(
            ticket.subject, ticket.status, ticket.priority, assignee, comments, metadata
        )

    async def ticket_ids(self) -> list[str]:
        async with self.db.uow() as uow:
            keys = await uow.session.scalars(select(Ticket.key).order_by(Ticket.id))
            return [k for k in keys if k is not None]


class RemoteSystem(SystemUnderTest):
    """Zendesk, Intercom and custom: their stand-ins share the switches and agents' actions."""

    client_timeout = 2.0  # the HttpClient's
    is_down = False

    def remote(self, why: str) -> RemoteSystem:
        return self

    # -- failure switches -------------------------------------------------------------

    def down(self) -> None:
        self.standin.go_down()
        self.is_down = True

    async def back(self) -> None:
        if self.is_down:
            await self.standin.come_back()
            self.is_down = False

    def fail_next(self, n: int, status: int = 500, retry_after: float | None = None) -> None:
        self.standin.fail_next(n, status, retry_after)

    def reject_assignment(self) -> None:
        self.standin.reject_assignment()

    def lose_create_answer(self) -> None:
        """The next ticket creation is carried out but its answer never arrives."""
        raise NotImplementedError

    # -- agents acting in the system, and what deskhand hears of it --------------------

    async def agent_comment(
        self, ticket_id: str, body: str, *, public: bool, author_email: str
    ) -> list[TicketEvent]:
        return await self._heard(
            self.standin.agent_comment(ticket_id, body, public=public, author_email=author_email)
        )

    async def agent_assign(self, ticket_id: str, email: str | None) -> list[TicketEvent]:
        return await self._heard(self.standin.agent_assign(ticket_id, email))

    async def agent_solve(self, ticket_id: str) -> list[TicketEvent]:
        return await self._heard(self.standin.agent_solve(ticket_id))

    async def deskhand_comment(
        self, ticket_id: str, body: str, *, public: bool, key: str
    ) -> list[TicketEvent]:
        """deskhand comments through the API; the events the system reports back for it."""
        return await self._heard(self._comment_as_deskhand(ticket_id, body, public, key))

    async def _comment_as_deskhand(self, ticket_id: str, body: str, public: bool, key: str) -> None:
        await self.ticketing.add_comment(
            ticket_id, body, public=public, author=None, idempotency_key=key
        )

    async def _heard(self, action: Awaitable[object]) -> list[TicketEvent]:
        await self.events()  # what came before is not this action's
        await action
        return await self.events()

    async def events(self) -> list[TicketEvent]:
        """Events reported since the last call."""
        raise NotImplementedError

    async def reported_again(self) -> list[TicketEvent]:
        """Every event so far, as the system reports it a second time (a retried webhook,
        a poll overlapping the last one)."""
        raise NotImplementedError


class Webhooks:
    """deskhand's webhook endpoint, reduced to keeping what arrives (parsed by the test)."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[dict[str, str], bytes]] = []
        app = web.Application()
        app.router.add_post("/webhooks/tickets", self._handle)
        self.server = TestServer(app)
        self.url = ""

    async def start(self) -> None:
        await self.server.start_server()
        self.url = str(self.server.make_url("/webhooks/tickets"))

    async def _handle(self, request: web.Request) -> web.Response:
        self.deliveries.append((dict(request.headers), await request.read()))
        return web.json_response({"ok": True})


class WebhookSystem(RemoteSystem):
    """Events arrive as the stand-in's signed webhooks, read with ``parse_webhook``."""

    webhooks: Webhooks
    _parsed = 0

    async def events(self) -> list[TicketEvent]:
        new = self.webhooks.deliveries[self._parsed :]
        self._parsed += len(new)
        return [e for headers, body in new for e in self._parse(headers, body)]

    async def reported_again(self) -> list[TicketEvent]:
        return [e for h, b in self.webhooks.deliveries for e in self._parse(h, b)]

    def _parse(self, headers: Mapping[str, str], body: bytes) -> list[TicketEvent]:
        events: list[TicketEvent] = self.ticketing.parse_webhook(headers, body, now=NOW)
        return events


class ZendeskSystem(WebhookSystem):
    def lose_create_answer(self) -> None:
        self.standin.lose_next(1, method="POST", path="/api/v2/tickets")

    async def _comment_as_deskhand(self, ticket_id: str, body: str, public: bool, key: str) -> None:
        await super()._comment_as_deskhand(ticket_id, body, public, key)
        # Zendesk's triggers fire for the API user's updates too; the stand-in fires them for
        # agents only, so take the delivery it renders for this update by the API user.
        me = self.standin.state.api_user
        payload, headers = self.standin.signed_webhook(
            "comment", ticket_id, updater_id=me["id"], updater_email=me["email"]
        )
        self.webhooks.deliveries.append((headers, payload))


class IntercomSystem(WebhookSystem):
    def lose_create_answer(self) -> None:
        self.standin.lose_response("POST", "/tickets")

    async def events(self) -> list[TicketEvent]:
        await self.standin.settle()  # API changes are notified in the background
        return await super().events()


class CustomSystem(RemoteSystem):
    """Events come from polling the change feed with ``changes_since``."""

    _cursor: str | None = None

    def lose_create_answer(self) -> None:
        assert self.client_timeout < LOSE_DELAY, f"needs an HttpClient timeout < {LOSE_DELAY}s"
        self.standin.slow(LOSE_DELAY)

    async def back(self) -> None:
        self.standin.slow(0)
        await super().back()

    async def events(self) -> list[TicketEvent]:
        events, self._cursor = await self._poll(self._cursor)
        return events

    async def reported_again(self) -> list[TicketEvent]:
        return (await self._poll(None))[0]

    async def _poll(self, cursor: str | None) -> tuple[list[TicketEvent], str | None]:
        seen: list[TicketEvent] = []
        while True:
            page = await self.ticketing.changes_since(cursor, limit=2)  # small: pages too
            seen += page.events
            if page.cursor is None:
                return seen, cursor
            cursor = page.cursor


@asynccontextmanager
async def system_under_test(
    name: str, tmp_path: Path, *, http: Mapping[str, Any] | None = None
) -> AsyncIterator[SystemUnderTest]:
    """``name``: one of SYSTEMS. ``http``: HttpClient keyword arguments (e.g. max_attempts=1
    so that a failure reaches the caller instead of being retried away)."""
    async with AsyncExitStack() as stack:
        if name == "local":
            url = sqlite_url(tmp_path)
            await upgrade_database(url)
            db = Database(url)
            stack.push_async_callback(db.dispose)
            yield LocalSystem(db)
            return
        options: dict[str, Any] = {"timeout": 2.0, "max_attempts": 3, "backoff_base": 0.01}
        options |= {"failure_threshold": 1000, **(http or {})}
        client = HttpClient(sleep=RecordingSleep(), monotonic=FakeMonotonic(), **options)
        await client.start()
        stack.push_async_callback(client.close)
        sut = await _remote(name, client, stack)
        sut.client_timeout = float(options["timeout"])
        yield sut


async def _remote(name: str, client: HttpClient, stack: AsyncExitStack) -> RemoteSystem:
    if name == "custom":
        contract()  # parsed once, before any request is timed
        custom = CustomStandIn(webhook_secret=SECRET)
        await custom.start()
        stack.push_async_callback(custom.stop)
        custom_ticketing = CustomTicketing(
            client, url=custom.url, token=custom.token, webhook_secret=SECRET
        )
        return CustomSystem(name, custom_ticketing, custom)
    webhooks = Webhooks()
    await webhooks.start()
    stack.push_async_callback(webhooks.server.close)
    sut: WebhookSystem
    if name == "zendesk":
        zendesk = ZendeskStandIn(webhook_url=webhooks.url, webhook_secret=SECRET)
        zendesk.clock = lambda: NOW
        await zendesk.start()
        stack.push_async_callback(zendesk.stop)
        kwargs: dict[str, Any] = zendesk.client_kwargs()
        sut = ZendeskSystem(name, ZendeskTicketing(client, **kwargs), zendesk)
    elif name == "intercom":
        openapi()  # parsed once, before any request is timed
        intercom = IntercomStandIn(webhook_url=webhooks.url, webhook_secret=SECRET)
        await intercom.start()
        stack.push_async_callback(intercom.stop)
        token = intercom.access_token
        ticketing = IntercomTicketing(
            client, url=intercom.url, access_token=token, client_secret=SECRET
        )
        await ticketing.prepare()  # as deskhand does at start-up, so webhooks can be read
        sut = IntercomSystem(name, ticketing, intercom)
    else:
        raise ValueError(f"unknown ticketing system {name!r}; choose from {SYSTEMS}")
    sut.webhooks = webhooks
    return sut
