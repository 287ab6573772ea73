"""The benchmarks' helper processes: the Slack and chatbot stand-ins, and the open-loop
load generator, each ``spawn``ed so neither their CPU nor their memory is counted against
the bot. Product modules are imported lazily so the helper processes start quickly.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import time
from collections.abc import Sequence
from typing import Any

from bench.common import AGENT, BOT_TOKEN, CHANNEL, LEAD, WEBHOOK_SECRET, Request

# -- stand-ins in a helper process -----------------------------------------------------------


def _fast_find(state: Any) -> None:
    """The stand-in finds a message by a linear scan; messages are appended in ts order,
    so bisect instead (bench only: at 10,000 messages the scan, not the bot, would cost)."""
    import bisect

    from bot.demo.slack_state import SlackError, ts_key

    def find(channel: str, ts: str) -> Any:
        history = state.history.get(channel, [])
        key = ts_key(ts)
        i = bisect.bisect_left(history, key, key=lambda m: ts_key(m["ts"]))
        if i < len(history) and history[i]["ts"] == ts:
            return history[i]
        raise SlackError("message_not_found")

    state.find = find


def _standins_main(conn: Any) -> None:
    async def main() -> None:
        from bot.demo.chatbot_standin import ChatbotStandIn
        from bot.demo.slack_standin import SlackStandIn

        slack = SlackStandIn(bot_token=BOT_TOKEN)
        _fast_find(slack.state)
        chatbot = ChatbotStandIn(secret=WEBHOOK_SECRET, now=time.time)
        await slack.start()
        await chatbot.start()
        slack.add_channel(CHANNEL, "escalations")
        slack.add_user(AGENT[0], AGENT[1], AGENT[1].title())
        slack.add_user(LEAD, "lee", "Lee")
        conn.send({"slack": slack.base_url, "chatbot": chatbot.url})
        loop = asyncio.get_running_loop()
        try:
            while True:
                message = await loop.run_in_executor(None, conn.recv)
                if message == "counts":
                    methods: dict[str, int] = {}
                    for call in slack.calls:
                        key = call.method if call.ok else f"{call.method}!{call.error}"
                        methods[key] = methods.get(key, 0) + 1
                    conn.send(
                        {
                            "slack": methods,
                            "chatbot": len(chatbot.callbacks),
                            "chatbot_received": len(chatbot.received),
                        }
                    )
                elif message == "reset":
                    slack.reset(state=True)
                    chatbot.received.clear()
                    chatbot.callbacks.clear()
                    conn.send("ok")
                else:
                    break
        finally:
            await chatbot.stop()
            await slack.stop()

    asyncio.run(main())


class StandIns:
    """The Slack and chatbot stand-ins, in a spawned process on loopback ports."""

    def __init__(self) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_standins_main, args=(child,), daemon=True)
        self.slack_url = self.chatbot_url = ""

    def __enter__(self) -> StandIns:
        self._proc.start()
        if not self._conn.poll(60):
            self.__exit__()
            raise RuntimeError("the stand-ins did not start")
        urls = self._conn.recv()
        self.slack_url, self.chatbot_url = urls["slack"], urls["chatbot"]
        return self

    def _ask(self, message: str) -> Any:
        self._conn.send(message)
        if not self._conn.poll(30):
            raise RuntimeError(f"the stand-ins did not answer {message!r}")
        return self._conn.recv()

    def counts(self) -> dict[str, Any]:
        return dict(self._ask("counts"))

    def reset(self) -> None:
        self._ask("reset")

    def __exit__(self, *_: object) -> None:
        with contextlib.suppress(OSError, BrokenPipeError):
            self._conn.send("stop")
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(5)


# -- open-loop load generator in a helper process -------------------------------------------


async def _open_loop(
    url: str, requests: Sequence[Request], rate: float, request_timeout: float
) -> list[tuple[float, float, int]]:
    """Send request i at t0 + i/rate whatever the answers; (lag, latency, status) each.

    lag is how late the request left against its schedule (the generator keeping up);
    latency runs from sending the request to reading the whole answer."""
    import aiohttp

    connector = aiohttp.TCPConnector(limit=0)
    client_timeout = aiohttp.ClientTimeout(total=request_timeout)
    async with aiohttp.ClientSession(connector=connector, timeout=client_timeout) as session:

        async def one(body: bytes, headers: dict[str, str], due: float) -> tuple[float, float, int]:
            started = time.perf_counter()
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError):
                status = -1
            return started - due, time.perf_counter() - started, status

        t0 = time.perf_counter() + 0.05
        tasks = []
        for i, (body, headers) in enumerate(requests):
            due = t0 + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(body, headers, due)))
        bound = len(requests) / rate + request_timeout + 5
        return list(await asyncio.wait_for(asyncio.gather(*tasks), bound))


def _loadgen_main(conn: Any) -> None:
    while True:
        job = conn.recv()
        if job is None:
            return
        try:
            conn.send(("ok", asyncio.run(_open_loop(*job))))
        except Exception as exc:  # reported to the parent, which raises it
            conn.send(("error", repr(exc)))


class LoadGen:
    """An open-loop HTTP load generator in its own process (client CPU stays out of the
    server's process; on 2 cores the two share the machine either way)."""

    def __init__(self) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_loadgen_main, args=(child,), daemon=True)

    def __enter__(self) -> LoadGen:
        self._proc.start()
        return self

    async def run(
        self, url: str, requests: Sequence[Request], *, rate: float, request_timeout: float = 10.0
    ) -> list[tuple[float, float, int]]:
        self._conn.send((url, list(requests), rate, request_timeout))
        bound = len(requests) / rate + request_timeout + 30
        # Wait without blocking the event loop: the bot serves the load from this loop.
        ready = await asyncio.to_thread(self._conn.poll, bound)
        if not ready:
            raise RuntimeError("the load generator did not finish in time")
        kind, result = self._conn.recv()
        if kind != "ok":
            raise RuntimeError(f"load generator failed: {result}")
        return list(result)

    def __exit__(self, *_: object) -> None:
        with contextlib.suppress(OSError, BrokenPipeError):
            self._conn.send(None)
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(5)
