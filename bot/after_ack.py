"""Work a Slack listener starts once it has acked.

Slack wants its answer within 3 s and deskhand answers in milliseconds, so a click's
answer does not wait for the database: the listener acks, then hands the transition
(claim, release, ...) to this runner. It is not a bare task:

- at most ``limit`` pieces run at once; the rest wait their turn without using the event
  loop, so a burst of clicks cannot crowd out the next ack;
- every piece is tracked: ``join()`` waits for them (tests, the benchmarks) and ``stop()``
  lets them finish before the database closes;
- every failure reaches the caller's ``on_error`` (the ephemeral "already claimed by @x").

What is lost on a crash is a click that had not run yet: the message shows no change and
the person clicks again. Work that must survive a crash (a reply for the customer) is
stored before the ack instead.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger(__name__)

Work = Callable[[], Awaitable[None]]
OnError = Callable[[Exception], Awaitable[None]]


class AfterAck:
    def __init__(self, *, limit: int = 4) -> None:
        self._slots = asyncio.Semaphore(limit)
        self._tasks: set[asyncio.Task[None]] = set()
        self._accepting = True

    def submit(self, work: Work, *, on_error: OnError, name: str) -> None:
        if not self._accepting:
            raise RuntimeError("deskhand is stopping")
        task = asyncio.get_running_loop().create_task(self._run(work, on_error), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def _run(self, work: Work, on_error: OnError) -> None:
        async with self._slots:
            try:
                await work()
            except Exception as exc:
                try:
                    await on_error(exc)
                except Exception:
                    log.exception("after_ack.error_handler_failed")

    async def join(self) -> None:
        """Wait until every piece submitted so far (and any it submitted) has finished."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def stop(self, *, grace: float = 10.0) -> None:
        self._accepting = False
        try:
            await asyncio.wait_for(self.join(), grace)
        except TimeoutError:
            log.error("after_ack.abandoned", pending=len(self._tasks))
            for task in list(self._tasks):
                task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.gather(*self._tasks, return_exceptions=True)

    def start(self) -> None:
        self._accepting = True
