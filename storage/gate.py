"""Turns at SQLite's one connection: requests first, background work when none waits.

SQLite has one writer, and deskhand gives it one connection. Units of work queue here for
it instead of on the connection pool, for two reasons:

- order: the pool's queue lets a newcomer take a just-returned connection ahead of those
  already waiting, which under load starves a waiter until its timeout; here each class
  of work goes in arrival order;
- priority: a person (a webhook awaiting its 202, a click) goes before the outbox and the
  jobs. Under a burst, background delivery slows down and catches up afterwards, instead
  of making every answer wait behind it.

Work is background when it runs inside ``background()``: the dispatcher and the jobs
wrap themselves in it, and tasks they start inherit it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Iterator
from contextvars import ContextVar

FAIR_SHARE = 8

_background: ContextVar[bool] = ContextVar("deskhand_background_work", default=False)


@contextlib.contextmanager
def background() -> Iterator[None]:
    """Units of work opened in here wait behind any request's."""
    token = _background.set(True)
    try:
        yield
    finally:
        _background.reset(token)


class Gate:
    """A lock with two queues: foreground waiters are always served first.

    Background work also steps aside while requests are being answered (``serving``): it
    waits for a moment with none in flight, up to ``max_yield`` seconds, so it neither
    crowds the event loop under a burst nor starves when the burst does not stop.
    """

    def __init__(self, *, max_yield: float = 0.05) -> None:
        self._held = False
        self._foreground: deque[asyncio.Future[None]] = deque()
        self._background: deque[asyncio.Future[None]] = deque()
        self._in_flight = 0
        self._streak = 0  # foreground turns in a row while background waited
        self._quiet = asyncio.Event()
        self._quiet.set()
        self._max_yield = max_yield

    @contextlib.contextmanager
    def serving(self) -> Iterator[None]:
        """A request is being answered (the HTTP layer wraps every request in this)."""
        self._in_flight += 1
        self._quiet.clear()
        try:
            yield
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._quiet.set()

    async def _step_aside(self) -> None:
        if self._in_flight:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._quiet.wait(), self._max_yield)

    async def acquire(self) -> None:
        if _background.get():
            await self._step_aside()
        if not self._held and not self._foreground and not self._background:
            self._held = True
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._background if _background.get() else self._foreground
        queue.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed the gate as we were cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):  # release() may have dropped it
                    queue.remove(waiter)
            raise

    def release(self) -> None:
        # Foreground first, but not forever: under a flood of requests, background work
        # (the outbox, retries) still gets one turn in every FAIR_SHARE.
        queues = (self._foreground, self._background)
        if self._background and self._streak >= FAIR_SHARE:
            queues = (self._background, self._foreground)
        for queue in queues:
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)  # handed over: the gate stays held
                    self._streak = (self._streak + 1) if queue is self._foreground else 0
                    return
        self._held = False
        self._streak = 0
