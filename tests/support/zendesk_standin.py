"""A Zendesk Support stand-in: an aiohttp server on a loopback port that behaves like
Zendesk for the operations deskhand uses, checks every request against Zendesk's spec
(``tests/support/zendesk_spec.py``: a mismatch is answered 400 and kept in ``violations``)
and sends Zendesk's signed trigger webhooks (rendered from the documented template).

Zendesk behaviour kept here although the spec does not say it: Basic auth as
``{email}/token:{api_token}`` (401 otherwise); ``Idempotency-Key`` on ticket creation
(replayed answer, ``x-idempotency-lookup: hit``); 422 ``RecordInvalid`` when an
assignee is not an agent or a ticket is solved without one; 429 with ``Retry-After``.

Beyond the shared stand-in interface: ``api_email``/``api_token``/``client_kwargs()``
(deskhand's API user), ``lose_next(n)`` (do the work, answer 500), ``clock`` (epoch
seconds for webhook timestamps) and ``sent_webhooks``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import time
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web

from integrations.ticketing.zendesk_format import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    webhook_signature,
    webhook_template,
)
from tests.support import zendesk_standin_state as st
from tests.support.standin_records import RecordedCall
from tests.support.zendesk_spec import load_spec, problems
from tests.support.zendesk_standin_api import ZendeskApi
from tests.support.zendesk_standin_state import StandInComment, StandInTicket

__all__ = ["RecordedCall", "StandInComment", "StandInTicket", "ZendeskStandIn"]

_WEBHOOK_KINDS = {"comment": "comment", "assigned": "assignment", "unassigned": "assignment"}
_WEBHOOK_KINDS |= {"assignment": "assignment", "status": "status"}
_ALIASES = {
    "body": "comment_body",
    "public": "comment_public",
    "author_email": "comment_author_email",
    "author_name": "comment_author_name",
    "author_id": "comment_author_id",
}


class ZendeskStandIn:
    def __init__(
        self,
        *,
        webhook_url: str | None = None,
        webhook_secret: str = "whsec",  # noqa: S107 - a test secret
    ) -> None:
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.api_email = "deskhand-api@example.com"
        self.api_token = "f96a48f006980fd6628ddd50f45ac797"  # the stand-in's own fake credential
        self.state = ZendeskApi(api_email=self.api_email)
        self.url = ""
        self.calls: list[RecordedCall] = []
        self.violations: list[str] = []
        self.sent_webhooks: list[tuple[dict[str, str], bytes, int]] = []
        self.clock: Callable[[], float] = time.time
        self._fail: list[tuple[int, float | None]] = []
        self._lose: list[tuple[str | None, str | None]] = []
        self._delay = 0.0
        self._stopping = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._server: asyncio.Server | None = None
        self._port = 0

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        load_spec()  # parsed once per process, before any request is timed
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await self._listen(0)

    async def stop(self) -> None:
        self._stopping.set()
        self.go_down()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def _listen(self, port: int) -> None:
        assert self._runner is not None and self._runner.server is not None
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._runner.server, "127.0.0.1", port)
        self._port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self._port}"

    def client_kwargs(self) -> dict[str, str]:
        """Keyword arguments for ZendeskTicketing(http, **kwargs) against this stand-in."""
        return {
            "url": self.url,
            "email": self.api_email,
            "api_token": self.api_token,
            "webhook_secret": self.webhook_secret,
        }

    # -- failure switches ---------------------------------------------------------------------

    def go_down(self) -> None:
        """Refuse connections: stop listening and drop open (keep-alive) connections."""
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._runner is not None and self._runner.server is not None:
            for connection in self._runner.server.connections:
                connection.force_close()

    async def come_back(self) -> None:
        if self._server is None:
            await self._listen(self._port)

    def fail_next(self, n: int, status: int = 500, retry_after: float | None = None) -> None:
        self._fail += [(status, retry_after)] * n

    def lose_next(self, n: int = 1, *, method: str | None = None, path: str | None = None) -> None:
        """Carry out the next ``n`` requests (matching ``method``/``path`` when given) but
        answer 500, as if the answer was lost on the way."""
        self._lose += [(method, path)] * n

    def slow(self, seconds: float) -> None:
        self._delay = max(0.0, seconds)

    def reject_assignment(self, on: bool = True) -> None:
        self.state.reject_assignment = on

    # -- state --------------------------------------------------------------------------------

    def tickets(self) -> list[StandInTicket]:
        return [self.state.view(t) for t in self.state.tickets.values()]

    def ticket(self, ticket_id: str) -> StandInTicket:
        return self.state.view(self.state.tickets[int(ticket_id)])

    def add_agent(self, email: str, name: str) -> str:
        return str(self.state.add_user(email=email, name=name, role="agent")["id"])

    # -- a human agent in Zendesk -------------------------------------------------------------

    async def agent_comment(
        self, ticket_id: str, body: str, *, public: bool = True, author_email: str
    ) -> int | None:
        author = self.state.agent(author_email)
        ticket = self.state.tickets[int(ticket_id)]
        self.state.add_comment(ticket, body=body, html=None, public=public, author=author)
        return await self._fire("comment", ticket_id, updater=author)

    async def agent_assign(self, ticket_id: str, email: str | None) -> int | None:
        ticket = self.state.tickets[int(ticket_id)]
        ticket.assignee_id = None if email is None else self.state.agent(email)["id"]
        self.state.touch(ticket)
        return await self._fire("assignment", ticket_id)

    async def agent_solve(self, ticket_id: str) -> int | None:
        ticket = self.state.tickets[int(ticket_id)]
        ticket.status = "solved"
        self.state.touch(ticket)
        return await self._fire("status", ticket_id)

    async def _fire(
        self, event: str, ticket_id: str, *, updater: dict[str, Any] | None = None
    ) -> int | None:
        if self.webhook_url is None:
            return None
        fields = {"updater_id": updater["id"], "updater_email": updater["email"]} if updater else {}
        body, headers = self.signed_webhook(event, ticket_id, **fields)
        async with (
            aiohttp.ClientSession() as session,
            session.post(self.webhook_url, data=body, headers=headers) as resp,
        ):
            await resp.read()
            self.sent_webhooks.append((headers, body, resp.status))
            return resp.status

    def signed_webhook(
        self, kind: str, ticket_id: str, **fields: Any
    ) -> tuple[bytes, dict[str, str]]:
        """A trigger delivery as Zendesk would send it, without sending it.

        ``kind``: comment, assigned, unassigned, status (or assignment). ``fields`` override
        template fields (``comment_body``... or the short ``body``, ``public``,
        ``author_email``, ``author_name``, ``author_id``); ``timestamp`` (epoch seconds or
        a string), ``secret`` and ``signature`` change the signing.
        """
        event = _WEBHOOK_KINDS[kind]
        timestamp = fields.pop("timestamp", None)
        secret = fields.pop("secret", self.webhook_secret)
        signature = fields.pop("signature", None)
        values = self.state.placeholders(int(ticket_id))
        if kind == "unassigned":
            values |= {"ticket.assignee.id": "", "ticket.assignee.email": ""}
            values["ticket.assignee.name"] = ""
        keys = {_ALIASES.get(k, k): v for k, v in fields.items()}
        if kind == "assigned" and "assignee_email" in keys and "assignee_id" not in keys:
            keys["assignee_id"] = self.state.agent(str(keys["assignee_email"]))["id"]
        template = webhook_template(event)
        placeholder_of = dict(re.findall(r'"(\w+)": "\{\{([\w.]+)\}\}"', template))
        for key, value in keys.items():
            text = ("true" if value else "false") if isinstance(value, bool) else str(value)
            values[placeholder_of[key]] = text
        # Zendesk renders each placeholder as text inside the JSON string, escaped.
        body = re.sub(
            r"\{\{([\w.]+)\}\}",
            lambda m: json.dumps(str(values.get(m.group(1), "")))[1:-1],
            template,
        ).encode()
        stamp = timestamp if isinstance(timestamp, str) else st.iso(timestamp or self.clock())
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: stamp,
            SIGNATURE_HEADER: signature or webhook_signature(secret, stamp, body),
            "X-Zendesk-Webhook-Id": "01STANDINWEBHOOK",
            "X-Zendesk-Webhook-Invocation-Id": str(len(self.sent_webhooks) + 1),
        }
        return body, headers

    # -- the API ------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        call = RecordedCall(
            request.method, request.path, dict(request.query), dict(request.headers), body, 0
        )
        self.calls.append(call)
        status, payload, headers = self._answer(request, raw, body)
        call.status = status
        if self._delay:
            # Done, but the answer comes late (a client timing out loses it).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._delay)
        return web.json_response(payload, status=status, headers=headers)

    def _answer(
        self, request: web.Request, raw: bytes, body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        found = problems(request, raw)
        if found:
            self.violations += [f"{request.method} {request.path}: {p}" for p in found]
            return 400, {"error": "InvalidRequest", "description": found[0]}, {}
        if not self._authorized(request.headers.get("Authorization", "")):
            return 401, {"error": "Couldn't authenticate you"}, {}
        if self._fail:
            status, retry_after = self._fail.pop(0)
            headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
            return status, {"error": "Failure", "description": f"stand-in {status}"}, headers
        status, payload, headers = self.state.handle(
            request.method, request.path, request.query, body, request.headers
        )
        lost = next(
            (
                i
                for i, (m, p) in enumerate(self._lose)
                if m in (None, request.method) and p in (None, request.path)
            ),
            None,
        )
        if lost is not None and status < 300:
            del self._lose[lost]
            return 500, {"error": "InternalError", "description": "answer lost"}, {}
        if "Location" in headers:
            headers["Location"] = self.url + headers["Location"]
        return status, payload, headers

    def _authorized(self, header: str) -> bool:
        expected = f"{self.api_email}/token:{self.api_token}".encode()
        return header == "Basic " + base64.b64encode(expected).decode()
