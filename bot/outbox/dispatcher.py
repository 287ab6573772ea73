"""Delivers outbox rows: claims what is due, runs each row's effect, records the outcome.

Woken right after a commit that queued rows, and by the scheduler's poll job for rows
whose retry time came or that another replica queued. A transient failure is retried with
a capped backoff until the give-up window has passed (RetryPolicy); when a destination
answers again, its waiting rows are due at once. Several replicas may run one
each: claims are leases taken with SKIP LOCKED on PostgreSQL (BEGIN IMMEDIATE on SQLite).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from bot.clock import Clock
from bot.metrics import Metrics
from bot.outbox.dead_letters import DeadLetterCause, DeadLetterHooks
from bot.outbox.kinds import destination, kinds_of
from integrations.errors import CircuitOpen, IntegrationError, RateLimited, Unavailable
from storage.db import Database
from storage.gate import background
from storage.outbox import CRASH, OUTAGE, RATE_LIMIT, OutboxMessage

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
    """When to try a failed delivery again, and when to give up on it.

    A number of attempts is never a reason to give up: only time is. A delivery that
    still fails transiently ``give_up_after`` seconds after it first fell due is a dead
    letter; until then it waits at most ``cap`` seconds between two tries.
    """

    base: float = 2.0
    cap: float = 300.0
    give_up_after: float = 172800.0
    # A destination whose deliveries failed for this long, with no success in between,
    # was down: its next success brings its waiting rows forward. One row that fails on
    # its own while the others go through does not (it keeps its backoff).
    outage_after: float = 10.0

    def delay(self, failures: int, *, hint: float | None = None) -> float:
        """The wait after the ``failures``-th counted failure: exponential backoff with
        jitter. A hint (Retry-After, a circuit's cool-down) is a floor: it counts towards
        the wait rather than being added to it. Nothing waits past the cap."""
        # The exponent is bounded: 2**n past n=1023 does not fit a float (OverflowError).
        exp = min(self.cap, self.base * 2.0 ** min(max(0, failures - 1), 1000))
        jittered = exp * (0.5 + random.random() / 2)
        return float(min(self.cap, max(jittered, hint or 0.0)))

    def gives_up(self, first_due_at: datetime, now: datetime) -> bool:
        return (now - first_due_at).total_seconds() >= self.give_up_after


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
        dead_letter_hooks: DeadLetterHooks | None = None,
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
        # Run in the dead letter's own transaction (alerts, a refund's approval).
        self._hooks = dead_letter_hooks or DeadLetterHooks()
        # Told after the dead letter is committed (observers, tests).
        self._on_dead_letter = on_dead_letter
        # destination -> first transient failure seen since its last success (this process).
        self._failing_since: dict[str, datetime] = {}
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
        try:
            await self.retry_waiting_now()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("outbox.recovery_failed")  # rows still come due at their time
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

    async def retry_waiting_now(self) -> int:
        """Start-up: rows waiting out a backoff (a destination's failure, or a crashed
        effect a new release may have fixed) are due now, not at the end of each one's
        backoff. A 429's Retry-After still stands."""
        async with self._db.uow() as uow:
            moved = await uow.outbox.bring_forward(now=self._clock.now(), reasons=(OUTAGE, CRASH))
            await uow.commit()
        if moved:
            log.info("outbox.due_on_start", rows=moved)
        return moved

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
        recovered = self._recovered({destination(m.kind) for m in messages}, now)
        async with self._db.uow() as uow:
            await uow.outbox.mark_done_many(messages, now=now)
            for where in recovered:
                # It answers again: what waits for it goes now, in one statement.
                moved = await uow.outbox.bring_forward(
                    now=now, reasons=(OUTAGE,), kinds=kinds_of(where)
                )
                log.info("outbox.destination_recovered", destination=where, rows=moved)
            await uow.commit()
        for message in messages:
            self._metrics.outbox_processed.labels(kind=message.kind, outcome="done").inc()
            self._metrics.outbox_delivery_seconds.labels(kind=message.kind).observe(
                max(0.0, (now - message.created_at).total_seconds())
            )

    def _recovered(self, destinations: set[str], now: datetime) -> list[str]:
        """Of the destinations a delivery just succeeded at, those that had been down."""
        recovered = []
        for where in sorted(destinations):
            since = self._failing_since.pop(where, None)
            if since is not None and (now - since).total_seconds() >= self._policy.outage_after:
                recovered.append(where)
        return recovered

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
        except RateLimited as exc:
            # The destination answers, it asks for time: the backoff does not advance.
            bound.warning("outbox.rate_limited", error=str(exc), retry_after=exc.retry_after)
            await self._fail(message, str(exc), hint=exc.retry_after, reason=RATE_LIMIT)
        except Unavailable as exc:
            # CircuitOpen too: its cool-down is the floor of this wait, not added to it.
            hint = exc.retry_after if isinstance(exc, CircuitOpen) else None
            bound.warning("outbox.retry", error=str(exc), system=exc.system)
            self._failing_since.setdefault(destination(message.kind), self._clock.now())
            await self._fail(message, str(exc), hint=hint, reason=OUTAGE)
        except (Permanent, IntegrationError) as exc:
            bound.error("outbox.rejected", error=str(exc))
            await self._dead(message, str(exc), gave_up=False)
        except Exception as exc:
            bound.exception("outbox.effect_crashed")
            await self._fail(message, f"{type(exc).__name__}: {exc}", hint=None, reason=CRASH)
        else:
            return True
        return False

    async def _fail(
        self, message: OutboxMessage, error: str, *, hint: float | None, reason: str
    ) -> None:
        """A transient failure: try again after the backoff, or give up if it has been
        failing since the give-up window opened."""
        if self._policy.gives_up(message.first_due_at, self._clock.now()):
            await self._dead(message, error, gave_up=True)
            return
        counts = reason != RATE_LIMIT
        failures = message.failures + 1 if counts else max(1, message.failures)
        delay = self._policy.delay(failures, hint=hint)
        await self._settle(message, "retry", defer=delay, error=error, reason=reason, counts=counts)

    async def _dead(self, message: OutboxMessage, error: str, *, gave_up: bool) -> None:
        now = self._clock.now()
        error = error[:2000]
        async with self._db.uow() as uow:
            if not await uow.outbox.mark_dead(message, now=now, error=error):
                return  # the lease ran out and another worker has the row now
            # Alerts and what the kind's owner does about it (a refund's approval is
            # failed) commit with the dead letter, or not at all.
            await self._hooks.run(uow, message, DeadLetterCause(error, gave_up, now))
            await uow.commit()
        self._metrics.outbox_processed.labels(kind=message.kind, outcome="dead").inc()
        log.error(
            "outbox.dead_letter",
            outbox_id=message.id,
            kind=message.kind,
            error=error,
            gave_up=gave_up,
            attempts=message.attempts,
        )
        if self._on_dead_letter is not None:
            await self._on_dead_letter(message, error)

    async def _settle(
        self,
        message: OutboxMessage,
        outcome: str,
        *,
        defer: float = 0.0,
        error: str = "",
        reason: str = OUTAGE,
        counts: bool = True,
    ) -> None:
        now = self._clock.now()
        async with self._db.uow() as uow:
            if outcome == "deferred":
                await uow.outbox.defer(message, now=now, until=now + timedelta(seconds=defer))
            else:
                await uow.outbox.mark_retry(
                    message,
                    now=now,
                    next_attempt_at=now + timedelta(seconds=defer),
                    error=error[:2000],
                    reason=reason,
                    counts=counts,
                )
            await uow.commit()
        self._metrics.outbox_processed.labels(kind=message.kind, outcome=outcome).inc()
