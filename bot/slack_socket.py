"""Socket Mode: the connection's life (start, stop, liveness, replacement).

slack_sdk's aiohttp ``SocketModeClient`` speaks the protocol: it asks ``apps.connections.open``
for a URL, reads ``hello`` and envelopes, sends acks, and follows a ``disconnect`` to a new
URL. Its own monitor pings every ``ping_interval`` and, with aiohttp's heartbeat, drops a
socket that sends nothing back and reconnects: we keep that, since it mends the common case
within seconds. We do not rely on it alone: a failed reconnect is logged and left to the next
round, and a session can look open while nothing arrives. So this module pings too, notes
the last frame received on the socket (any frame: a pong, ``hello``, an envelope), reports
that to ``/readyz``, and replaces a socket that has been silent for ``stale_after`` seconds.

An envelope is acked only after its dispatch answered (an event's reply is stored first);
one that arrives while stopping is left unacked, so Slack sends it again on a new connection.
Slack re-sends an envelope whose ack it did not get (lost with a connection that was being
replaced): one already answered is acked again from memory, one still being dispatched is
left to that dispatch; whatever comes after a restart relies on the listeners being
idempotent (a thread reply is stored once per ts, a claim is compare-and-set).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import structlog
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

log = structlog.get_logger(__name__)

Dispatch = Callable[[SocketModeRequest], Awaitable[SocketModeResponse | None]]

# How long stop() lets envelopes being dispatched finish (and ack) before closing.
STOP_GRACE_SECONDS = 5.0
# Answers kept to ack a re-sent envelope again (Slack re-sends within minutes, not 1000s).
REMEMBERED_ANSWERS = 1000


def _frames_heard(heard: Callable[[], None]) -> type[aiohttp.ClientWebSocketResponse]:
    """aiohttp's WebSocket response class, telling ``heard`` of every frame received."""

    class HeardWebSocket(aiohttp.ClientWebSocketResponse):
        async def receive(self, timeout: float | None = None) -> aiohttp.WSMessage:  # noqa: ASYNC109 - aiohttp's signature
            message = await super().receive(timeout)
            if message.type not in _NOT_HEARD:
                heard()
            return message

    return HeardWebSocket


_NOT_HEARD = frozenset(
    {aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED}
    | {aiohttp.WSMsgType.ERROR}
)


class SlackSocket:
    """One Socket Mode connection at a time, replaced when it goes silent."""

    def __init__(
        self,
        *,
        app_token: str,
        web_client: AsyncWebClient,
        dispatch: Dispatch,
        stale_after: float,
        ping_interval: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._app_token = app_token
        self._web_client = web_client
        self._dispatch = dispatch
        self.stale_after = stale_after
        # slack_sdk's monitor (and aiohttp's heartbeat) at a third of the limit: they
        # usually mend a dead socket well before it counts as stale.
        self._ping_interval = ping_interval or min(10.0, stale_after / 3)
        self._check_every = min(5.0, stale_after / 4)
        self._monotonic = monotonic
        self._client: SocketModeClient | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._last_heard: float | None = None
        self._last_replaced = -math.inf
        self._accepting = False
        self._in_flight: set[str] = set()
        self._answers: OrderedDict[str, SocketModeResponse] = OrderedDict()
        self._idle: asyncio.Event | None = None
        self.replacements = 0  # connections opened because the socket went silent

    # -- life ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start connecting; ``alive`` turns true once Slack's ``hello`` arrives."""
        client = SocketModeClient(
            app_token=self._app_token,
            web_client=self._web_client,
            ping_interval=self._ping_interval,
            logger=logging.getLogger("deskhand.socket_mode"),
        )
        # The client's session, remade with a response class that reports every frame.
        await client.aiohttp_client_session.close()
        client.aiohttp_client_session = aiohttp.ClientSession(
            ws_response_class=_frames_heard(self._heard)
        )
        client.socket_mode_request_listeners.append(self._on_request)
        self._client, self._accepting = client, True
        self._idle = asyncio.Event()
        self._idle.set()
        self._watchdog = asyncio.create_task(self._watch(), name="slack-socket-watchdog")

    async def stop(self) -> None:
        self._accepting = False
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
            self._watchdog = None
        if self._idle is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), STOP_GRACE_SECONDS)
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()  # type: ignore[no-untyped-call]  # slack_sdk leaves it unannotated

    @property
    def accepting(self) -> bool:
        """Envelopes are dispatched (false once stop() began: they stay unacked)."""
        return self._accepting

    # -- liveness ------------------------------------------------------------------------

    def alive(self) -> bool:
        """Something arrived on the socket within the last ``stale_after`` seconds."""
        return self.silent_for() < self.stale_after

    def silent_for(self) -> float:
        """Seconds since the last frame received (infinite before the first)."""
        if self._last_heard is None:
            return math.inf
        return self._monotonic() - self._last_heard

    def _heard(self) -> None:
        self._last_heard = self._monotonic()

    async def _watch(self) -> None:
        await self._replace(reason="start")
        while True:
            await asyncio.sleep(self._check_every)
            try:
                await self._check()
            except Exception:
                log.exception("slack_socket.check_failed")

    async def _check(self) -> None:
        await self._ping()
        if self.alive():
            return
        if self._monotonic() - self._last_replaced >= self.stale_after:
            log.warning("slack_socket.silent", seconds=round(self.silent_for(), 1))
            self.replacements += 1
            await self._replace(reason="silent")

    async def _ping(self) -> None:
        """A ping of our own: its pong (any frame, in fact) is what keeps ``alive`` true."""
        session = self._client.current_session if self._client is not None else None
        if session is not None and not session.closed:
            with contextlib.suppress(Exception):  # a failed ping shows as silence
                await session.ping(b"deskhand-liveness")

    async def _replace(self, *, reason: str) -> None:
        """A new URL from ``apps.connections.open`` and a new connection (the old one is
        closed by slack_sdk first). Bounded, so the watchdog tries again next round."""
        client = self._client
        if client is None:
            return
        self._last_replaced = self._monotonic()
        try:
            await asyncio.wait_for(
                client.connect_to_new_endpoint(force=True), max(self.stale_after, 5.0)
            )
        except Exception as exc:
            log.warning("slack_socket.connect_failed", reason=reason, error=type(exc).__name__)
        else:
            log.info("slack_socket.connected", reason=reason)

    # -- envelopes -----------------------------------------------------------------------

    async def _on_request(self, client: Any, request: SocketModeRequest) -> None:
        envelope_id = request.envelope_id
        if not self._accepting or self._idle is None or envelope_id in self._in_flight:
            return  # unacked here: Slack sends it again, or the dispatch under way acks it
        answered = self._answers.get(envelope_id)
        if answered is not None:
            log.info("slack_socket.acked_again", type=request.type, retry=request.retry_attempt)
            await client.send_socket_mode_response(answered)
            return
        self._in_flight.add(envelope_id)
        self._idle.clear()
        try:
            response = await self._dispatch(request)
            if response is not None:
                self._remember(envelope_id, response)
                await client.send_socket_mode_response(response)
        except Exception:
            log.exception("slack_socket.envelope_failed", type=request.type)
        finally:
            self._in_flight.discard(envelope_id)
            if not self._in_flight:
                self._idle.set()

    def _remember(self, envelope_id: str, response: SocketModeResponse) -> None:
        self._answers[envelope_id] = response
        while len(self._answers) > REMEMBERED_ANSWERS:
            self._answers.popitem(last=False)
