"""The Socket Mode transport (bot/slack_socket.py) against the Socket Mode stand-in: hello,
acks by envelope id, disconnect and reconnect, a deaf socket replaced, redelivery."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot.demo.slack_standin import SlackStandIn
from bot.slack_socket import SlackSocket
from tests.support.harness_data import APP_TOKEN, BOT_TOKEN
from tests.support.scripted_http import FakeMonotonic
from tests.support.slack_spec import SlackSpec
from tests.support.socket_standin import SocketStandIn, with_socket_methods

STALE_AFTER = 0.6


@dataclass
class Recorder:
    """The dispatch: records each envelope, acks it with its envelope id (and a payload
    for slash commands), or holds it until ``release`` is set."""

    seen: list[SocketModeRequest] = field(default_factory=list)
    release: asyncio.Event | None = None
    answer: bool = True

    async def __call__(self, request: SocketModeRequest) -> SocketModeResponse | None:
        self.seen.append(request)
        if self.release is not None:
            await self.release.wait()
        if not self.answer:
            return None
        payload = {"text": "ok"} if request.type == "slash_commands" else None
        return SocketModeResponse(envelope_id=request.envelope_id, payload=payload)


@dataclass
class Link:
    socket: SlackSocket
    standin: SocketStandIn
    slack: SlackStandIn
    dispatch: Recorder
    clock: FakeMonotonic  # the socket's liveness clock: silence lasts as long as a test says


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109 - a helper's interface
    """Poll ``predicate`` every 10 ms; fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, f"timed out waiting for {predicate}"
        await asyncio.sleep(0.01)


@pytest.fixture
async def link() -> AsyncIterator[Link]:
    """A connected SlackSocket. Its slack_sdk monitor pings only every 30 s, so whatever
    mends a silent socket within a test is deskhand's own watchdog; its liveness clock is
    a fake one, so a test decides how long a silence lasts."""
    standin = SocketStandIn()
    await standin.start()
    slack = SlackStandIn(
        bot_token=BOT_TOKEN,
        app_token=APP_TOKEN,
        validator=with_socket_methods(SlackSpec.load().validate),
    )
    await slack.start()
    slack.serve_socket(standin.next_url)
    web = AsyncWebClient(base_url=slack.base_url)
    dispatch = Recorder()
    clock = FakeMonotonic()
    socket = SlackSocket(
        app_token=APP_TOKEN,
        web_client=web,
        dispatch=dispatch,
        stale_after=STALE_AFTER,
        ping_interval=30,
        monotonic=clock,
    )
    await socket.start()
    try:
        await until(socket.alive)
        yield Link(socket, standin, slack, dispatch, clock)
        assert slack.violations == [], slack.violations
    finally:
        await socket.stop()
        await standin.stop()
        await slack.stop()


async def test_hello_makes_it_alive_after_asking_with_the_app_token(link: Link) -> None:
    [opened] = link.slack.calls_to("apps.connections.open")
    assert opened.ok and opened.headers["Authorization"] == f"Bearer {APP_TOKEN}"
    assert len(link.standin.live_connections()) == 1
    assert link.socket.alive() and link.socket.replacements == 0


async def test_each_envelope_is_acked_by_its_id_with_its_payload(link: Link) -> None:
    first = await link.standin.send("events_api", {"type": "event_callback", "event": {}})
    second = await link.standin.send(
        "slash_commands", {"command": "/desk", "text": "help"}, accepts_response_payload=True
    )
    ack_one, ack_two = await link.standin.ack_of(first), await link.standin.ack_of(second)
    assert ack_one is not None and ack_one.payload is None
    assert ack_two is not None and ack_two.payload == {"text": "ok"}
    assert [r.envelope_id for r in link.dispatch.seen] == [first, second]
    assert link.standin.unacked == {}


async def test_an_envelope_not_answered_stays_unacked(link: Link) -> None:
    link.dispatch.answer = False
    envelope = await link.standin.send("events_api", {"type": "event_callback", "event": {}})
    await until(lambda: len(link.dispatch.seen) == 1)
    assert await link.standin.ack_of(envelope, timeout=0.2) is None
    assert envelope in link.standin.unacked


async def test_disconnect_moves_to_a_new_connection_and_loses_nothing(link: Link) -> None:
    await link.standin.disconnect("refresh_requested")
    await until(lambda: link.standin.urls_issued == 2 and len(link.standin.connections) == 2)
    await until(lambda: link.standin.connections[0].ws.closed)
    envelope = await link.standin.send("interactive", {"type": "block_actions"})
    ack = await link.standin.ack_of(envelope)
    assert ack is not None and ack.connection == 2
    assert link.socket.alive() and link.socket.replacements == 0


async def test_an_envelope_whose_ack_was_lost_is_acked_again_not_run_again(link: Link) -> None:
    link.standin.drop_acks(1)
    envelope = await link.standin.send(
        "slash_commands", {"command": "/desk", "text": "status"}, accepts_response_payload=True
    )
    await until(lambda: len(link.dispatch.seen) == 1)
    assert envelope in link.standin.unacked
    await link.standin.disconnect("warning")
    ack = await link.standin.ack_of(envelope)
    assert ack is not None and ack.connection == 2 and ack.payload == {"text": "ok"}
    first, again = [d for d in link.standin.delivered if d.envelope_id == envelope]
    assert (first.retry_attempt, again.retry_attempt) == (0, 1)
    assert again.retry_reason == "timeout"
    assert [r.envelope_id for r in link.dispatch.seen] == [envelope]


async def test_an_envelope_sent_again_while_running_is_run_once(link: Link) -> None:
    link.dispatch.release = asyncio.Event()
    envelope = await link.standin.send("events_api", {"type": "event_callback", "event": {}})
    await until(lambda: len(link.dispatch.seen) == 1)
    await link.standin.disconnect("refresh_requested")
    await until(
        lambda: len(link.standin.live_connections()) == 1 and len(link.standin.connections) == 2
    )
    await until(lambda: len([d for d in link.standin.delivered if d.envelope_id == envelope]) == 2)
    link.dispatch.release.set()
    assert await link.standin.ack_of(envelope) is not None
    assert len(link.dispatch.seen) == 1


async def test_a_deaf_socket_goes_stale_and_is_replaced(link: Link) -> None:
    connection = link.standin.connections[0]
    pings = connection.pings
    link.standin.go_deaf()
    # A ping left unanswered: any pong sent before has arrived, so silence starts here.
    await until(lambda: connection.pings > pings)
    link.clock.advance(STALE_AFTER)
    await until(lambda: not link.socket.alive())
    # Replaced by a fresh connection (itself deaf while the stand-in is), once per period.
    await until(lambda: link.socket.replacements == 1 and len(link.standin.connections) == 2)
    assert link.standin.urls_issued == 2 and not link.socket.alive()
    await link.standin.hear()
    await until(link.socket.alive)
    envelope = await link.standin.send("events_api", {"type": "event_callback", "event": {}})
    assert await link.standin.ack_of(envelope) is not None
    assert link.socket.replacements == 1


async def test_a_socket_that_stays_quiet_but_answers_pings_is_alive(link: Link) -> None:
    # Three periods without an envelope: each time the watchdog's ping is answered.
    for _ in range(3):
        link.clock.advance(STALE_AFTER * 0.75)
        await until(lambda: link.socket.silent_for() == 0)
        assert link.socket.alive()
    assert link.socket.replacements == 0 and link.standin.urls_issued == 1
    assert link.standin.connections[0].pings >= 3


async def test_a_dropped_socket_is_replaced(link: Link) -> None:
    await link.standin.drop()
    await until(lambda: len(link.standin.live_connections()) == 1 and link.standin.urls_issued == 2)
    envelope = await link.standin.send("events_api", {"type": "event_callback", "event": {}})
    assert await link.standin.ack_of(envelope) is not None


async def test_stop_lets_an_envelope_in_progress_finish_and_ack(link: Link) -> None:
    link.dispatch.release = asyncio.Event()
    envelope = await link.standin.send("events_api", {"type": "event_callback", "event": {}})
    await until(lambda: len(link.dispatch.seen) == 1)
    stopping = asyncio.create_task(link.socket.stop())
    await until(lambda: not link.socket.accepting)
    late = await link.standin.send("events_api", {"type": "event_callback", "event": {}})
    link.dispatch.release.set()
    await stopping
    assert await link.standin.ack_of(envelope, timeout=1) is not None
    # What arrived while stopping was left for Slack to send again.
    assert late in link.standin.unacked


async def test_each_token_opens_only_its_own_methods(link: Link) -> None:
    # As Slack: apps.connections.open takes the app-level token, and only it.
    web = AsyncWebClient(base_url=link.slack.base_url)
    with pytest.raises(SlackApiError) as refused:
        await web.apps_connections_open(app_token=BOT_TOKEN)
    assert refused.value.response["error"] == "not_allowed_token_type"
    with pytest.raises(SlackApiError) as refused:
        await AsyncWebClient(base_url=link.slack.base_url, token=APP_TOKEN).auth_test()
    assert refused.value.response["error"] == "not_allowed_token_type"
    with pytest.raises(SlackApiError) as refused:
        await web.apps_connections_open(app_token="xapp-1-someone-else")
    assert refused.value.response["error"] == "invalid_auth"
    assert link.standin.urls_issued == 1
