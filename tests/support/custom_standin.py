"""A stand-in for a team's own ticketing system, built from deskhand's contract
(docs/custom-ticketing.openapi.yaml): an aiohttp server on a loopback port.

Every request is recorded and checked against the contract with openapi-core (request
bodies strictly: an undeclared field is a violation, so typos surface); a request that
does not match is answered 400 and listed in ``violations``. Idempotency keys work like
Stripe's: the first successful result per key is replayed with 200. The change feed uses
(timestamp, id) cursors, and with ``webhook_url`` every change is also POSTed there, signed.
A change is processed before ``slow()`` delays the answer, so a timed-out request still
happened, like a lost response.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

from integrations.ticketing.custom_format import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature
from tests.support.custom_standin_state import (
    DESKHAND_ACTOR,
    DESKHAND_EMAIL,
    JSON,
    Refusal,
    StandInComment,
    StandInTicket,
    TicketStore,
    contract,
    contract_problem,
)
from tests.support.standin_records import RecordedCall

__all__ = ["CustomStandIn", "RecordedCall", "StandInComment", "StandInTicket"]

BASE_PATH = "/api/deskhand"
TOKEN = "d5d49851f2878cd184b4940c92da5c59"  # the stand-in's fake API token
ADMIN_EMAIL = "admin@tickets.example.com"  # who acts in the system when no agent is named
_TICKET = re.compile(r"^/tickets/([^/]+)$")
_COMMENTS = re.compile(r"^/tickets/([^/]+)/comments$")


class CustomStandIn:
    def __init__(
        self,
        *,
        webhook_url: str | None = None,
        webhook_secret: str = "whsec",  # noqa: S107 - a stand-in's fake secret
        token: str = TOKEN,
    ) -> None:
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.token = token
        self.api_identity_email = DESKHAND_EMAIL
        self.url = ""
        self.calls: list[RecordedCall] = []
        self.violations: list[str] = []
        self.webhook_log: list[tuple[list[str], int | None]] = []  # (event ids, status)
        # Event time, truncated to the second; tests may replace it to freeze time.
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self.store = TicketStore(lambda: self.clock())
        self._idempotent: dict[tuple[str, str], tuple[int, JSON]] = {}
        self._failures: list[tuple[int, float | None]] = []
        self._delay = 0.0
        self._port = 0
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._session: aiohttp.ClientSession | None = None
        self._background: set[asyncio.Task[None]] = set()

    # -- lifecycle and failure switches ------------------------------------------------

    async def start(self) -> None:
        contract()  # parsed once per process, before any request is timed
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await self._listen()
        self.url = f"http://127.0.0.1:{self._port}{BASE_PATH}"
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))

    async def stop(self) -> None:
        await self.flush_webhooks()
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()
        self._runner = self._site = self._session = None

    def go_down(self) -> None:
        """Refuse connections: stop listening and drop open (keep-alive) ones; state stays."""
        assert self._runner is not None and self._site is not None
        server = self._site._server  # the asyncio Server; closing it is synchronous
        if server is not None:
            server.close()
        for handler in list(self._runner.server.connections if self._runner.server else []):
            handler.force_close()

    async def come_back(self) -> None:
        assert self._site is not None
        await self._site.stop()  # unregisters the closed site from the runner
        await self._listen()

    def fail_next(self, n: int, status: int = 500, retry_after: float | None = None) -> None:
        self._failures += [(status, retry_after)] * n

    def slow(self, seconds: float) -> None:
        self._delay = max(0.0, seconds)

    def reject_assignment(self, on: bool = True) -> None:
        self.store.reject_assignment = on

    async def _listen(self) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, "127.0.0.1", self._port)
        await self._site.start()
        self._port = self._site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    # -- state -------------------------------------------------------------------------

    def tickets(self) -> list[StandInTicket]:
        return copy.deepcopy(list(self.store.tickets.values()))

    def ticket(self, ticket_id: str) -> StandInTicket:
        return copy.deepcopy(self.store.get(ticket_id))

    def add_agent(self, email: str, name: str) -> str:
        return self.store.add_agent(email, name)

    def events(self) -> list[JSON]:
        """Every event recorded, oldest first, as the feed lists them."""
        return [copy.deepcopy(e.payload) for e in self.store.events]

    # -- what a human agent does in the system -----------------------------------------

    async def agent_comment(
        self, ticket_id: str, body: str, *, public: bool = True, author_email: str
    ) -> int | None:
        name = self.store.agents.get(author_email, ("", None))[1]
        comment = StandInComment(body, public, author_email, name, origin="agent")
        self.store.comment(self.store.get(ticket_id), comment)
        return await self._deliver_last()

    async def agent_assign(self, ticket_id: str, email: str | None) -> int | None:
        if email is not None and email not in self.store.agents:
            raise ValueError(f"{email} is not an agent: add_agent() first")
        ticket = self.store.get(ticket_id)
        actor = self.store.agent_actor(email or ticket.assignee_email or ADMIN_EMAIL)
        before = len(self.store.events)
        self.store.assign(ticket, email, actor)
        return await self._deliver_last() if len(self.store.events) > before else None

    async def agent_solve(self, ticket_id: str) -> int | None:
        ticket = self.store.get(ticket_id)
        actor = self.store.agent_actor(ticket.assignee_email or ADMIN_EMAIL)
        before = len(self.store.events)
        self.store.set_status(ticket, "solved", actor)
        return await self._deliver_last() if len(self.store.events) > before else None

    # -- webhooks ----------------------------------------------------------------------

    def signed_webhook(
        self, kind: str, ticket_id: str, **fields: Any
    ) -> tuple[bytes, dict[str, str]]:
        """A delivery of one event that is not recorded. ``fields``: body, public,
        author_email, assignee_email, status, origin, event_id, at (datetime), and for
        refusal tests ``secret`` and ``timestamp`` (unix seconds) of the signature."""
        event = self.store.unrecorded_event(kind, ticket_id, fields)
        timestamp = fields.get("timestamp", int(self.clock().timestamp()))
        return self._sign([event], fields.get("secret", self.webhook_secret), int(timestamp))

    async def flush_webhooks(self) -> None:
        """Wait for the deliveries of changes deskhand made (they are sent in background)."""
        while self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    def _sign(
        self, events: list[JSON], secret: str, timestamp: int
    ) -> tuple[bytes, dict[str, str]]:
        body = json.dumps({"events": events}).encode()
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: signature(secret, str(timestamp), body),
        }
        return body, headers

    async def _deliver_last(self) -> int | None:
        return await self._deliver([self.store.events[-1].payload])

    async def _deliver(self, events: list[JSON]) -> int | None:
        if self.webhook_url is None or self._session is None:
            return None
        body, headers = self._sign(events, self.webhook_secret, int(self.clock().timestamp()))
        status: int | None = None
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with self._session.post(self.webhook_url, data=body, headers=headers) as resp:
                status = resp.status
        self.webhook_log.append(([e["id"] for e in events], status))
        return status

    def _deliver_in_background(self, events: list[JSON]) -> None:
        if self.webhook_url is None or not events:
            return
        task = asyncio.get_running_loop().create_task(self._send_quietly(events))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _send_quietly(self, events: list[JSON]) -> None:
        await self._deliver(events)

    # -- the API -----------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        path = request.path.removeprefix(BASE_PATH) if request.path.startswith(BASE_PATH) else ""
        call = RecordedCall(
            request.method,
            path or request.path,
            dict(request.query),
            dict(request.headers),
            _body(raw),
        )
        self.calls.append(call)
        if self._failures:
            status, retry_after = self._failures.pop(0)
            return _answer(call, status, _failure_error(status), retry_after)
        authorization = request.headers.get("Authorization")
        if authorization is None:
            self.violations.append(f"{request.method} {request.path}: no Authorization header")
        if authorization != f"Bearer {self.token}":
            return _answer(call, 401, Refusal(401, "unauthorized", "missing or wrong token"))
        problem = contract_problem(request, raw)
        if problem is not None:
            self.violations.append(f"{request.method} {request.path}: {problem}")
            return _answer(call, 400, Refusal(400, "invalid_request", problem))
        before = len(self.store.events)
        try:
            status, payload = self._route(request, path, call.body)
        except Refusal as refusal:
            return _answer(call, refusal.status, refusal)
        self._deliver_in_background([e.payload for e in self.store.events[before:]])
        if self._delay:
            await asyncio.sleep(self._delay)  # after the change: a timeout loses the answer only
        return _answer(call, status, payload)

    def _route(self, request: web.Request, path: str, body: Any) -> tuple[int, JSON]:
        method = request.method
        if method == "POST" and path == "/tickets":
            key = ("tickets", request.headers["Idempotency-Key"])
            return self._once(key, lambda: self.store.ticket_json(self.store.create(body)))
        if method == "GET" and path == "/tickets/changes":
            limit = int(request.query.get("limit", "100"))
            return 200, self.store.changes(request.query.get("since"), limit)
        if match := _COMMENTS.match(path):
            ticket = self.store.get(match[1])
            key = (f"comments:{ticket.id}", request.headers["Idempotency-Key"])
            return self._once(key, lambda: self._api_comment(ticket, body))
        if match := _TICKET.match(path):
            ticket = self.store.get(match[1])
            if method == "PATCH":
                self._api_update(ticket, body)
            return 200, self.store.ticket_json(ticket)
        raise Refusal(404, "not_found", f"no route {method} {path}")  # unreachable past the spec

    def _once(self, key: tuple[str, str], act: Callable[[], JSON]) -> tuple[int, JSON]:
        if key in self._idempotent:
            return 200, self._idempotent[key][1]
        result = act()  # a Refusal propagates and nothing is stored, as the contract says
        self._idempotent[key] = (201, result)
        return 201, result

    def _api_comment(self, ticket: StandInTicket, body: JSON) -> JSON:
        author = body.get("author") or {}
        comment = StandInComment(
            body["body"],
            body["public"],
            author.get("email") or DESKHAND_EMAIL,
            author.get("name") or DESKHAND_ACTOR["name"],
            origin="deskhand",
        )
        return self.store.comment(ticket, comment)

    def _api_update(self, ticket: StandInTicket, body: JSON) -> None:
        if "assignee_email" in body and body["assignee_email"] is not None:
            self.store.check_assignable(body["assignee_email"])  # before changing anything
        if "assignee_email" in body:
            self.store.assign(ticket, body["assignee_email"], DESKHAND_ACTOR)
        if "status" in body:
            self.store.set_status(ticket, body["status"], DESKHAND_ACTOR)


def _body(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", errors="replace")


def _failure_error(status: int) -> Refusal:
    code = "rate_limited" if status == 429 else "internal" if status >= 500 else "injected"
    return Refusal(status, code, f"injected failure {status}")


def _answer(
    call: RecordedCall, status: int, payload: JSON | Refusal, retry_after: float | None = None
) -> web.Response:
    call.status = status
    if isinstance(payload, Refusal):
        payload = {"error": {"code": payload.code, "message": payload.message}}
    headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else None
    return web.json_response(payload, status=status, headers=headers)
