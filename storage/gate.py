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
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
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


class Requests:
    """Requests being answered, so that background work can give way to them.

    The HTTP layer wraps every request in ``serving()``. Background work asks ``busy``
    (a request in flight, or one answered within ``linger`` seconds: the gaps inside a
    burst count as the burst), and ``step_aside()`` waits for a real gap: no request in
    flight for ``gap`` seconds. A gap of a moment is not enough: background work that
    takes the database in it holds it for a few milliseconds, and the next request
    waits for it. Waiters step aside one at a time, each for at most ``max_yield``
    seconds, so under a burst that leaves no gap background work slows to a trickle
    (it does not stop) and catches up once the burst is over.
    """

    def __init__(self, *, max_yield: float = 0.5, linger: float = 0.25, gap: float = 0.005) -> None:
        self._in_flight = 0
        self._quiet = asyncio.Event()
        self._quiet.set()
        self._max_yield = max_yield
        self._linger = linger
        self._gap = gap
        self._last_done = -linger
        self._one_at_a_time = asyncio.Lock()

    @contextlib.contextmanager
    def serving(self) -> Iterator[None]:
        self._in_flight += 1
        self._quiet.clear()
        try:
            yield
        finally:
            self._in_flight -= 1
            self._last_done = time.monotonic()
            if self._in_flight == 0:
                self._quiet.set()

    @property
    def busy(self) -> bool:
        return bool(self._in_flight) or time.monotonic() - self._last_done < self._linger

    async def step_aside(self, max_yield: float | None = None) -> None:
        if not self._in_flight and time.monotonic() - self._last_done >= self._gap:
            return
        async with self._one_at_a_time:
            deadline = time.monotonic() + (max_yield or self._max_yield)
            while (left := deadline - time.monotonic()) > 0:
                if self._in_flight:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._quiet.wait(), left)
                    continue
                since = time.monotonic() - self._last_done
                if since >= self._gap:
                    return
                await asyncio.sleep(min(left, self._gap - since))


class Gate:
    """A lock with two queues: foreground waiters are always served first.

    Background work also steps aside while requests are being answered (``serving``;
    see ``Requests``).
    """

    def __init__(self, *, max_yield: float = 0.05, requests: Requests | None = None) -> None:
        self._held = False
        self._foreground: deque[asyncio.Future[None]] = deque()
        self._background: deque[asyncio.Future[None]] = deque()
        self._streak = 0  # foreground turns in a row while background waited
        self.requests = requests or Requests(max_yield=max_yield)

    def serving(self) -> contextlib.AbstractContextManager[None]:
        """A request is being answered (the HTTP layer wraps every request in this)."""
        return self.requests.serving()

    async def acquire(self) -> None:
        if _background.get():
            await self.requests.step_aside()
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


_holding: ContextVar[bool] = ContextVar("deskhand_holding_the_gate", default=False)


@contextlib.asynccontextmanager
async def held_turn(gate: Gate) -> AsyncIterator[None]:
    """The gate for one unit of work or one-trip transaction (storage/one_trip.py)."""
    if _holding.get():
        # Would wait forever for the gate this task holds: fail loudly instead.
        raise RuntimeError("a unit of work was opened inside another one")
    await gate.acquire()
    token = _holding.set(True)
    try:
        yield
    finally:
        _holding.reset(token)
        gate.release()
