"""Delivers outbox rows: claims what is due, runs each row's effect, records the outcome.

Woken right after a commit that queued rows, and by the scheduler's poll job for rows
whose retry time came or that another replica queued. Several replicas may run one
each: claims are leases taken with SKIP LOCKED on PostgreSQL (BEGIN IMMEDIATE on SQLite).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

import structlog

from bot.clock import Clock
from bot.metrics import Metrics
from integrations.errors import CircuitOpen, IntegrationError, RateLimited, Unavailable
from storage.db import Database
from storage.gate import background
from storage.outbox import OutboxMessage

log = structlog.get_logger(__name__)

Effect = Callable[[OutboxMessage], Awaitable[None]]
# While requests are being answered, a delivery waits up to this long for a gap between
# them (storage/gate.py): under a burst that leaves none, the outbox slows to a trickle and
# catches up afterwards.
BUSY_YIELD = 5.0


class NotReady(Exception):
    """The row depends on something not there yet (a ticket, a parent message)."""

    def __init__(self, reason: str, *, retry_in: float = 5.0) -> None:
        super().__init__(reason)
        self.retry_in = retry_in


class Permanent(Exception):
    """Retrying cannot help: dead-letter the row at once."""


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 12
    base: float = 2.0
    cap: float = 600.0

    def delay(self, attempts: int, *, hint: float | None = None) -> float:
        """Exponential backoff with jitter; a server's Retry-After is a floor."""
        # The exponent is bounded: 2**n past n=1023 does not fit a float (OverflowError).
        exp = min(self.cap, self.base * 2.0 ** min(max(0, attempts - 1), 1000))
        jittered = exp * (0.5 + random.random() / 2)
        return float(max(jittered, hint or 0.0))


class OutboxDispatcher:
    def __init__(
        self,
        db: Database,
        effects: Mapping[str, Effect],
        *,
        clock: Clock,
        metrics: Metrics,
        policy: RetryPolicy,
        batch_size: int = 50,
        concurrency: int = 16,
        lease: timedelta = timedelta(seconds=120),
        on_dead_letter: Callable[[OutboxMessage, str], Awaitable[None]] | None = None,
    ) -> None:
        self._db = db
        self._effects = effects
        self._clock = clock
        self._metrics = metrics
        self._policy = policy
        self._batch_size = batch_size
        self._limit = asyncio.Semaphore(concurrency)
        self._lease = lease
        self._on_dead_letter = on_dead_letter
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="outbox-dispatcher"
            )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            # Woken after commits that queued rows, and by the scheduler's poll job.
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.drain()
            except asyncio.CancelledError:
                raise
            except Exception:
                # The database may be briefly unavailable; the next round tries again.
                log.exception("outbox.drain_failed")

    async def drain(self, *, max_rounds: int = 1000) -> int:
        """Deliver every due row, round after round, until none is due."""
        total = 0
        with background():  # requests waiting for the database go first
            for _ in range(max_rounds):
                processed = await self.run_once()
                total += processed
                if processed == 0:
                    break
        return total

    async def run_once(self) -> int:
        async with self._db.uow() as uow:
            batch = await uow.outbox.claim_due(
                now=self._clock.now(), limit=self._batch_size, lease=self._lease
            )
            await uow.commit()
        if batch:
            # return_exceptions: when cancelled (stop()), wait until every delivery has
            # unwound; a plain gather returns at the first cancelled one and leaves the
            # rest running against a database that stop() then disposes of.
            results = await asyncio.gather(
                *(self._deliver(message) for message in batch), return_exceptions=True
            )
            # Successes are recorded together: one transaction per batch, not per row. A
            # row of the same ordering key waits for it anyway, and a crash before this
            # commit redelivers under the same idempotency keys.
            await self._settle_done([m for m, r in zip(batch, results, strict=True) if r is True])
            for result in results:
                if isinstance(result, BaseException):
                    raise result
        return len(batch)

    async def _settle_done(self, messages: list[OutboxMessage]) -> None:
        if not messages:
            return
        now = self._clock.now()
        async with self._db.uow() as uow:
            await uow.outbox.mark_done_many(messages, now=now)
            await uow.commit()
        for message in messages:
            self._metrics.outbox_processed.labels(kind=message.kind, outcome="done").inc()
            self._metrics.outbox_delivery_seconds.labels(kind=message.kind).observe(
                max(0.0, (now - message.created_at).total_seconds())
            )

    async def _deliver(self, message: OutboxMessage) -> bool:
        async with self._limit:
            if self._db.requests.busy:
                # Requests are being answered: deliveries start one at a time, each in a
                # gap between them (storage/gate.py), so a burst of webhooks or clicks is
                # not answered late. The outbox catches up when the burst is over. Only
                # the start waits: a slow outside call must not hold up the others.
                await self._db.requests.step_aside(BUSY_YIELD)
            return await self._attempt(message)

    async def _attempt(self, message: OutboxMessage) -> bool:
        """Run the row's effect; True when it succeeded (settled with its batch)."""
        effect = self._effects.get(message.kind)
        bound = log.bind(
            outbox_id=message.id,
            kind=message.kind,
            key=message.idempotency_key,
            attempt=message.attempts,
        )
        try:
            if effect is None:
                raise Permanent(f"no effect for kind {message.kind}")
            await effect(message)
        except NotReady as exc:
            await self._settle(message, "deferred", defer=exc.retry_in, error=str(exc))
        except (Unavailable, RateLimited) as exc:
            hint = exc.retry_after if isinstance(exc, (RateLimited, CircuitOpen)) else None
            bound.warning("outbox.retry", error=str(exc), system=exc.system)
            await self._fail(message, str(exc), retry_hint=hint)
        except (Permanent, IntegrationError) as exc:
            bound.error("outbox.rejected", error=str(exc))
            await self._dead(message, str(exc))
        except Exception as exc:
            bound.exception("outbox.effect_crashed")
            await self._fail(message, f"{type(exc).__name__}: {exc}", retry_hint=None)
        else:
            return True
        return False

    async def _fail(self, message: OutboxMessage, error: str, *, retry_hint: float | None) -> None:
        if message.attempts >= self._policy.max_attempts:
            await self._dead(message, error)
            return
        delay = self._policy.delay(message.attempts, hint=retry_hint)
        await self._settle(message, "retry", defer=delay, error=error)

    async def _dead(self, message: OutboxMessage, error: str) -> None:
        await self._settle(message, "dead", error=error)
        log.error("outbox.dead_letter", outbox_id=message.id, kind=message.kind, error=error)
        if self._on_dead_letter is not None:
            await self._on_dead_letter(message, error)

    async def _settle(
        self, message: OutboxMessage, outcome: str, *, defer: float = 0.0, error: str = ""
    ) -> None:
        now = self._clock.now()
        async with self._db.uow() as uow:
            if outcome == "dead":
                await uow.outbox.mark_dead(message, now=now, error=error[:2000])
            elif outcome == "deferred":
                await uow.outbox.defer(message, now=now, until=now + timedelta(seconds=defer))
            else:
                await uow.outbox.mark_retry(
                    message,
                    now=now,
                    next_attempt_at=now + timedelta(seconds=defer),
                    error=error[:2000],
                )
            await uow.commit()
        self._metrics.outbox_processed.labels(kind=message.kind, outcome=outcome).inc()
