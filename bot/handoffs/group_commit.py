"""Group commit: concurrent writers share one transaction.

Under load, webhook requests arrive faster than SQLite can commit one transaction each
(every commit is an fsync, and every statement a trip to the database thread). Requests
that arrive while a batch is being written wait and go together in the next one: one
BEGIN, a multi-row INSERT per table, one COMMIT. At low load a batch holds one request,
so nothing waits for company.

No task is started for this: the first request in becomes the leader and writes the
batch; when it is done it hands the lead to the first request that arrived meanwhile, so
no request writes more than its own batch. The writer may fail one item alone (an
exception in its place among the results): only that request fails.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# For each item its result, or the exception that fails that item's request alone.
WriteBatch = Callable[[Sequence[T]], Awaitable[Sequence[R | BaseException]]]


class _Lead:
    """The answer that tells a waiting request it now writes the batch."""


_LEAD = _Lead()


class GroupCommit(Generic[T, R]):
    def __init__(self, write_batch: WriteBatch[T, R], *, max_batch: int = 64) -> None:
        self._write_batch = write_batch
        self._max_batch = max_batch
        self._waiting: list[tuple[T, asyncio.Future[R | _Lead]]] = []
        self._leading = False

    async def submit(self, item: T) -> R:
        mine: asyncio.Future[R | _Lead] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, mine))
        if not self._leading:
            self._leading = True
            mine.set_result(_LEAD)
        try:
            outcome = await mine
        except asyncio.CancelledError:
            if mine.done() and not mine.cancelled() and isinstance(mine.result(), _Lead):
                self._waiting = [entry for entry in self._waiting if entry[1] is not mine]
                self._pass_lead()  # handed the lead as we were cancelled: pass it on
            raise
        if not isinstance(outcome, _Lead):
            return outcome
        batch = self._waiting[: self._max_batch]
        del self._waiting[: self._max_batch]
        try:
            results = await self._write_batch([item for item, _ in batch])
        except BaseException as exc:
            for _, future in batch:
                if future is not mine and not future.done():
                    future.set_exception(exc)
            raise
        finally:
            self._pass_lead()
        for (_, future), result in zip(batch, results, strict=True):
            if future is not mine and not future.done():
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)
        own = results[[future for _, future in batch].index(mine)]
        if isinstance(own, BaseException):
            raise own
        return own

    def _pass_lead(self) -> None:
        while self._waiting:
            _, future = self._waiting[0]
            if not future.done():  # a cancelled request cannot lead
                future.set_result(_LEAD)
                return
            self._waiting.pop(0)
        self._leading = False
