"""A stand-in for Intercom's REST API 2.16 (tickets, contacts, admins, ticket types) and
its signed webhooks, for tests of ``integrations.ticketing.intercom``.

Every request is checked against the vendored, trimmed spec
(``tests/specs/intercom_api_2.16.trimmed.yaml``, tests/support/intercom_standin_spec.py)
with openapi-core, ticket searches included; one that does not match is answered 400 and
appended to ``violations``. A missing or different ``Intercom-Version`` header is a
violation too (deskhand always pins 2.16).

``slow()`` delays each answer *after* the work is done, so a client timeout is a lost
response. Changes made through the API are notified to ``webhook_url`` too, in the
background (as Intercom does), unless ``echo_api_changes`` is False; ``settle()`` waits.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from integrations.ticketing.intercom_format import text_to_html
from tests.support.intercom_standin_spec import SpecRequest, openapi
from tests.support.intercom_standin_state import (
    DESKHAND_ADMIN_ID,
    DESKHAND_EMAIL,
    Answer,
    IntercomState,
    Json,
    error,
    view_fields,
)
from tests.support.standin_records import RecordedCall

_STATE_CATEGORY = {"open": "in_progress", "pending": "waiting_on_customer", "solved": "resolved"}


@dataclass
class StandInComment:
    body: str
    public: bool
    author_email: str | None


@dataclass
class StandInTicket:
    id: str
    external_id: str | None
    subject: str | None
    description: str | None
    priority: str | None  # None: the ticket type has no priority attribute
    status: str
    assignee_email: str | None
    requester_email: str | None
    comments: list[StandInComment] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)


class IntercomStandIn:
    access_token = "dG9rOmQ2MTQ1OTE4MDI4Nzg0NjZiYjdiZTg0MTNhNGU5N2U3"  # a fake one
    deskhand_admin_id = DESKHAND_ADMIN_ID  # the admin the access token belongs to
    deskhand_email = DESKHAND_EMAIL

    def __init__(self, *, webhook_url: str | None = None, webhook_secret: str = "whsec") -> None:  # noqa: S107
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.echo_api_changes = True
        self.url = ""
        self.calls: list[RecordedCall] = []
        self.violations: list[str] = []
        self.notifications: list[Json] = []  # every notification built, API and agents alike
        self.state = IntercomState(reject_assignment=lambda: self._refuse_assignment)
        self._refuse_assignment = False
        self._failures: list[tuple[int, float | None]] = []
        self._delay = 0.0
        self._losses: list[tuple[str, str]] = []
        self._port = 0
        self._runner: web.AppRunner | None = None
        self._server: asyncio.Server | None = None
        self._session: aiohttp.ClientSession | None = None
        self._background: set[asyncio.Task[int | None]] = set()

    # -- lifecycle and failure switches --------------------------------------------------

    async def start(self) -> None:
        openapi()  # parsed once per process, before any request is timed
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await self._listen()
        self.url = f"http://127.0.0.1:{self._port}"
        self._session = aiohttp.ClientSession()

    async def _listen(self) -> None:
        assert self._runner is not None and self._runner.server is not None
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._runner.server, "127.0.0.1", self._port, reuse_address=True
        )
        self._port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        await self.settle()
        if self._session is not None:
            await self._session.close()
        self.go_down()
        if self._runner is not None:
            await self._runner.cleanup()

    def go_down(self) -> None:
        if self._server is not None:
            self._server.close()  # new connections are refused
        if self._runner is not None and self._runner.server is not None:
            for connection in self._runner.server.connections:
                connection.force_close()  # and pooled keep-alive ones drop

    async def come_back(self) -> None:
        await self._listen()

    def fail_next(self, n: int, status: int = 500, retry_after: float | None = None) -> None:
        self._failures += [(status, retry_after)] * n

    def slow(self, seconds: float) -> None:
        self._delay = seconds

    def lose_response(self, method: str, path: str) -> None:
        """Do the next ``method path`` request, then drop the connection unanswered."""
        self._losses.append((method, path))

    def reject_assignment(self, on: bool = True) -> None:
        self._refuse_assignment = on

    async def settle(self) -> None:
        """Wait for the background notifications of API changes."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    # -- state -------------------------------------------------------------------------

    def tickets(self) -> list[StandInTicket]:
        return [self.ticket(ticket_id) for ticket_id in self.state.tickets]

    def ticket(self, ticket_id: str) -> StandInTicket:
        fields = view_fields(self.state, self.state.tickets[ticket_id])
        fields["comments"] = [StandInComment(*c) for c in fields["comments"]]
        return StandInTicket(**fields)

    def add_agent(self, email: str, name: str) -> str:
        return self.state.add_admin(name, email)

    # -- what agents do in the Intercom inbox ----------------------------------------------

    async def agent_comment(
        self, ticket_id: str, body: str, *, public: bool = True, author_email: str
    ) -> int | None:
        return await self._agent(
            "comment", ticket_id, body=body, public=public, author_email=author_email
        )

    async def agent_assign(self, ticket_id: str, email: str | None) -> int | None:
        return await self._agent("assign" if email else "unassign", ticket_id, email=email)

    async def agent_solve(self, ticket_id: str) -> int | None:
        return await self._agent("solve", ticket_id)

    async def _agent(self, kind: str, ticket_id: str, **fields: Any) -> int | None:
        self._apply(kind, self.state.tickets[ticket_id], fields)
        status = None
        for body in self._drain():
            status = await self._deliver(body)
        return status

    def signed_webhook(
        self, kind: str, ticket_id: str, **fields: Any
    ) -> tuple[bytes, dict[str, str]]:
        """The notification an agent's change would send (kinds: comment [body, public,
        author_email], assign [email], unassign, solve, status [status]), built on a copy:
        the stand-in's tickets do not change and nothing is sent."""
        start = len(self.state.changes)
        self._apply(kind, copy.deepcopy(self.state.tickets[ticket_id]), fields)
        topic, item = self.state.changes[-1]
        del self.state.changes[start:]
        body = self._notification(topic, item)
        return body, self.sign(body)

    def last_webhook(self) -> tuple[bytes, dict[str, str]]:
        """The latest notification built (e.g. for a change deskhand made), signed."""
        body = json.dumps(self.notifications[-1]).encode()
        return body, self.sign(body)

    def sign(self, body: bytes) -> dict[str, str]:
        digest = hmac.new(self.webhook_secret.encode(), body, hashlib.sha1).hexdigest()
        return {"Content-Type": "application/json", "X-Hub-Signature": f"sha1={digest}"}

    def _apply(self, kind: str, ticket: Json, fields: dict[str, Any]) -> None:
        state = self.state
        assignee = state.admins.get(str(ticket["admin_assignee_id"]))
        default = fields.get("email") or (assignee or {}).get("email") or "agent@standin.example"
        actor = state.admin_by_email(fields.get("author_email") or default)
        if kind == "comment":
            html = text_to_html(fields["body"])
            state.comment(ticket, html, fields.get("public", True), actor, api=False)
        elif kind in ("assign", "unassign"):
            target = state.admin_by_email(fields["email"]) if kind == "assign" else None
            state.assign(ticket, target, actor, api=False)
        elif kind in ("solve", "status"):
            category = _STATE_CATEGORY[fields.get("status", "solved")]
            state.set_state(ticket, category, actor, api=False)
        else:
            raise ValueError(f"unknown webhook kind {kind!r}")

    def _notification(self, topic: str, item: Json) -> bytes:
        now = int(time.time())
        payload = {
            "type": "notification_event",
            "app_id": "standin1",
            "data": {"type": "notification_event_data", "item": item},
            "links": {},
            "id": f"notif_{uuid.uuid4()}",
            "topic": topic,
            "delivery_status": "pending",
            "delivery_attempts": 1,
            "delivered_at": 0,
            "first_sent_at": now,
            "created_at": now,
            "self": None,
        }
        self.notifications.append(payload)
        return json.dumps(payload).encode()

    def _drain(self) -> list[bytes]:
        changes, self.state.changes = self.state.changes, []
        return [self._notification(topic, item) for topic, item in changes]

    async def _deliver(self, body: bytes) -> int | None:
        if self.webhook_url is None or self._session is None:
            return None
        async with self._session.post(self.webhook_url, data=body, headers=self.sign(body)) as r:
            return r.status

    # -- the API -------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        status, answer, headers = self._answer(request, raw, body)
        self.calls.append(
            RecordedCall(
                request.method,
                request.path,
                dict(request.query),
                dict(request.headers),
                body,
                status,
            )
        )
        for notification in self._drain():
            if self.echo_api_changes and self.webhook_url is not None:
                task = asyncio.create_task(self._deliver(notification))
                self._background.add(task)
                task.add_done_callback(self._background.discard)
        if self._delay:
            await asyncio.sleep(self._delay)
        if (request.method, request.path) in self._losses and request.transport is not None:
            self._losses.remove((request.method, request.path))
            request.transport.abort()
        return web.json_response(answer, status=status, headers=headers)

    def _answer(
        self, request: web.Request, raw: bytes, body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        problems = [
            str(e) for e in openapi().iter_request_errors(SpecRequest(request, raw or None))
        ]
        if request.headers.get("Intercom-Version") != "2.16":
            problems.append("Intercom-Version header is not 2.16")
        if problems:
            self.violations += [f"{request.method} {request.path}: {p}" for p in problems]
            return (*error(400, "parameter_invalid", "; ".join(problems)), {})
        if request.headers.get("Authorization") != f"Bearer {self.access_token}":
            return (*error(401, "unauthorized", "Access Token Invalid"), {})
        if self._failures:
            status, retry_after = self._failures.pop(0)
            headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
            code = "rate_limit_exceeded" if status == 429 else "server_error"
            return (*error(status, code, "failure injected by the stand-in"), headers)
        return (*self._route(request.method, request.path, body), {})

    def _route(self, method: str, path: str, body: Any) -> Answer:
        state = self.state
        if (method, path) == ("GET", "/me"):
            app = {"type": "app", "id_code": "standin1", "name": "Stand-in"}
            return 200, state.admins[DESKHAND_ADMIN_ID] | {"app": app}
        if (method, path) == ("GET", "/admins"):
            return 200, {"type": "admin.list", "admins": list(state.admins.values())}
        if (method, path) == ("GET", "/ticket_types"):
            return 200, {"type": "list", "data": state.types}
        if (method, path) == ("POST", "/contacts"):
            return state.create_contact(body)
        if (method, path) == ("POST", "/contacts/search"):
            return state.search_contacts(body)
        if (method, path) == ("POST", "/tickets"):
            return state.create_ticket(body)
        if (method, path) == ("POST", "/tickets/search"):
            return state.search_tickets(body)
        match = re.fullmatch(r"/tickets/([^/]+)(/reply)?", path)
        ticket = state.tickets.get(match.group(1)) if match else None
        if match and ticket is None:
            return error(404, "not_found", "Resource Not Found")
        if match and ticket is not None:
            if method == "GET" and not match.group(2):
                return 200, ticket
            if method == "PUT" and not match.group(2):
                return state.update_ticket(ticket, body)
            if method == "POST" and match.group(2):
                return state.reply(ticket, body)
        return error(404, "not_found", f"the stand-in does not serve {method} {path}")
