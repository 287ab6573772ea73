"""A Slack Socket Mode stand-in: a local aiohttp WebSocket server on a free port.

It speaks the protocol as slack_sdk's ``SocketModeClient`` expects it
(docs.slack.dev/apis/events-api/using-socket-mode):

* ``apps.connections.open`` on the Slack stand-in (``SlackStandIn.serve_socket``) hands out
  a fresh URL per call, ``ws://127.0.0.1:PORT/link/?ticket=N``; each ticket connects once.
* On connect: ``{"type": "hello", ...}``, then every envelope not acked yet, as Slack
  re-sends unacked envelopes on a new connection (``retry_attempt`` counted up).
* WebSocket pings are answered with pongs, unless ``go_deaf()``: then nothing is sent at
  all (no pong, no hello, no envelope) until ``hear()``, as on a connection that is open
  but dead. The server sends no pings of its own.
* ``disconnect(reason)`` sends ``{"type": "disconnect", "reason": ...}``; the client is
  expected to open a new connection (the old one stays open until the client closes it).
* ``send`` delivers an envelope ``{envelope_id, type, payload, accepts_response_payload,
  retry_attempt, retry_reason}`` to the newest live connection; acks ``{envelope_id,
  payload?}`` are recorded from any connection, and ``ack_of`` waits for one.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

Validator = Callable[[str, str, dict[str, Any]], list[str]]


@dataclass
class Envelope:
    envelope_id: str
    type: str  # events_api | interactive | slash_commands
    payload: dict[str, Any]
    accepts_response_payload: bool
    retry_attempt: int = 0
    retry_reason: str = ""

    def message(self) -> dict[str, Any]:
        return {
            "envelope_id": self.envelope_id,
            "type": self.type,
            "payload": self.payload,
            "accepts_response_payload": self.accepts_response_payload,
            "retry_attempt": self.retry_attempt,
            "retry_reason": self.retry_reason,
        }


@dataclass
class Ack:
    envelope_id: str
    payload: dict[str, Any] | None
    connection: int


@dataclass
class Connection:
    number: int
    ws: web.WebSocketResponse
    greeted: bool = False  # hello sent
    pings: int = 0
    sent: list[dict[str, Any]] = field(default_factory=list)

    @property
    def live(self) -> bool:
        return self.greeted and not self.ws.closed


class SocketStandIn:
    """The WebSocket server and what went over it. Start it inside a running loop."""

    def __init__(self, *, app_id: str = "A0DESKHAND") -> None:
        self.app_id = app_id
        self.connections: list[Connection] = []
        self.acks: list[Ack] = []
        self.delivered: list[Envelope] = []  # every envelope sent, redeliveries included
        self.unacked: dict[str, Envelope] = {}
        self.urls_issued = 0
        self.deaf = False
        self._drop_acks = 0
        self._tickets: set[str] = set()
        self._acked = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._base = ""
        self._numbers = itertools.count(1)

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/link/", self._handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        self._runner, self._base = runner, f"ws://{host}:{port}/link/"

    async def stop(self) -> None:
        for connection in self.connections:
            await connection.ws.close()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    def next_url(self) -> str:
        """A URL for one connection (what apps.connections.open answers)."""
        self.urls_issued += 1
        ticket = uuid.uuid4().hex
        self._tickets.add(ticket)
        return f"{self._base}?ticket={ticket}"

    # -- switches ------------------------------------------------------------------------

    def go_deaf(self) -> None:
        """Stop sending anything (pongs included) on every connection, new ones too."""
        self.deaf = True

    async def hear(self) -> None:
        """Answer again: the newest open connection gets its hello (and what is unacked)."""
        self.deaf = False
        current = self._newest_open()
        if current is not None and not current.greeted:
            await self._greet(current)
        elif current is not None:
            await self._catch_up(current)

    def drop_acks(self, count: int = 1) -> None:
        """Ignore the next ``count`` acks, as when they are lost with a connection."""
        self._drop_acks += count

    @property
    def drop_acks_left(self) -> int:
        return self._drop_acks

    async def disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask the client to move to a new connection (Slack does so every few hours)."""
        current = self._newest_live()
        assert current is not None, "no live connection to disconnect"
        await self._send(current, {"type": "disconnect", "reason": reason, "debug_info": {}})

    async def drop(self) -> None:
        """Close the newest connection from the server's side."""
        current = self._newest_open()
        assert current is not None, "no open connection to drop"
        await current.ws.close()

    # -- envelopes -----------------------------------------------------------------------

    async def send(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        accepts_response_payload: bool = False,
        retry_attempt: int = 0,
        retry_reason: str = "",
    ) -> str:
        """Deliver an envelope to the newest live connection (or on the next hello)."""
        envelope = Envelope(
            envelope_id=str(uuid.uuid4()),
            type=kind,
            payload=payload,
            accepts_response_payload=accepts_response_payload,
            retry_attempt=retry_attempt,
            retry_reason=retry_reason,
        )
        self.unacked[envelope.envelope_id] = envelope
        current = self._newest_live()
        if current is not None and not self.deaf:
            await self._deliver(current, envelope)
        return envelope.envelope_id

    async def ack_of(self, envelope_id: str, timeout: float = 10.0) -> Ack | None:  # noqa: ASYNC109 - a helper's interface
        """The ack of ``envelope_id`` once it arrives; None if none came within ``timeout``."""

        def found() -> Ack | None:
            return next((a for a in self.acks if a.envelope_id == envelope_id), None)

        async with self._acked:
            try:
                await asyncio.wait_for(self._acked.wait_for(lambda: found() is not None), timeout)
            except TimeoutError:
                return None
            return found()

    def live_connections(self) -> list[Connection]:
        return [c for c in self.connections if c.live]

    # -- the server ----------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            return web.json_response({"error": "invalid_ticket"}, status=401)
        self._tickets.discard(ticket)
        ws = web.WebSocketResponse(autoping=False)  # pongs are ours to send (or not)
        await ws.prepare(request)
        connection = Connection(next(self._numbers), ws)
        self.connections.append(connection)
        if not self.deaf:
            await self._greet(connection)
        async for message in ws:
            if message.type == WSMsgType.PING:
                connection.pings += 1
                if not self.deaf:
                    await ws.pong(message.data)
            elif message.type == WSMsgType.TEXT:
                await self._on_text(connection, message.data)
        return ws

    async def _on_text(self, connection: Connection, data: str) -> None:
        try:
            message = json.loads(data)
        except ValueError:
            return
        envelope_id = message.get("envelope_id") if isinstance(message, dict) else None
        if not isinstance(envelope_id, str):
            return
        if self._drop_acks:
            self._drop_acks -= 1
            return
        self.unacked.pop(envelope_id, None)
        async with self._acked:
            self.acks.append(Ack(envelope_id, message.get("payload"), connection.number))
            self._acked.notify_all()

    async def _greet(self, connection: Connection) -> None:
        hello = {
            "type": "hello",
            "num_connections": len([c for c in self.connections if not c.ws.closed]),
            "debug_info": {"host": "socket-standin", "approximate_connection_time": 18060},
            "connection_info": {"app_id": self.app_id},
        }
        await self._send(connection, hello)
        connection.greeted = True
        await self._catch_up(connection)

    async def _catch_up(self, connection: Connection) -> None:
        """Send ``connection`` what is unacked and not sent on it yet; what went out on an
        earlier connection goes again as a retry."""
        for envelope in list(self.unacked.values()):
            if envelope.envelope_id in {m.get("envelope_id") for m in connection.sent}:
                continue
            if any(d.envelope_id == envelope.envelope_id for d in self.delivered):
                envelope.retry_attempt += 1
                envelope.retry_reason = "timeout"
            await self._deliver(connection, envelope)

    async def _deliver(self, connection: Connection, envelope: Envelope) -> None:
        self.delivered.append(Envelope(**vars(envelope)))
        await self._send(connection, envelope.message())

    async def _send(self, connection: Connection, message: dict[str, Any]) -> None:
        if connection.ws.closed:
            return
        connection.sent.append(message)
        await connection.ws.send_str(json.dumps(message))

    def _newest_open(self) -> Connection | None:
        return next((c for c in reversed(self.connections) if not c.ws.closed), None)

    def _newest_live(self) -> Connection | None:
        return next((c for c in reversed(self.connections) if c.live), None)


def with_socket_methods(validate: Validator) -> Validator:
    """``validate`` (the Slack spec check) plus apps.connections.open, which the vendored
    2021 spec lacks: it takes no arguments (the app-level token is the Authorization)."""

    def validator(method: str, http_method: str, args: dict[str, Any]) -> list[str]:
        if method != "apps.connections.open":
            return validate(method, http_method, args)
        problems = [f"unknown parameter {name!r}" for name in args]
        if http_method.upper() != "POST":
            problems.append(f"HTTP {http_method}: apps.connections.open is POST")
        return problems

    return validator
