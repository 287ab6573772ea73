"""Scheduled jobs (APScheduler 3, AsyncIOScheduler). Jobs decide what is due from the
database, so a restart loses nothing; every replica runs them, and work is claimed
through the database (leases with SKIP LOCKED, or a (job, fire time) row inserted once)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.tickets.retries import RETRY_SWEEP_SECONDS
from storage.gate import background

if TYPE_CHECKING:
    from bot.app import Deskhand

log = structlog.get_logger(__name__)
WORKER_ID = uuid.uuid4().hex[:12]
APPROVAL_SWEEP_SECONDS = 30
WAL_CHECKPOINT_SECONDS = 5


def build_scheduler(app: Deskhand) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone="UTC")
    defaults = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 30}
    poll = app.settings.outbox_poll_interval
    # Every job is a coroutine function with its arguments passed through `args`:
    # APScheduler runs those on the event loop (a lambda or a plain function would run
    # in a worker thread, and a lambda returning a coroutine would never be awaited).
    scheduler.add_job(
        wake_outbox, IntervalTrigger(seconds=poll), args=[app], id="outbox_due", **defaults
    )
    scheduler.add_job(
        refresh_directory, IntervalTrigger(minutes=5), args=[app], id="directory", **defaults
    )
    scheduler.add_job(
        prune_outbox, CronTrigger(minute=7), args=[app], id="prune_outbox", **defaults
    )
    scheduler.add_job(
        retry_tickets,
        IntervalTrigger(seconds=RETRY_SWEEP_SECONDS),
        args=[app],
        id="ticket_retries",
        **defaults,
    )
    scheduler.add_job(
        notify_queue, IntervalTrigger(seconds=30), args=[app], id="queue_notices", **defaults
    )
    scheduler.add_job(
        expire_approvals,
        IntervalTrigger(seconds=APPROVAL_SWEEP_SECONDS),
        args=[app],
        id="approval_expiry",
        **defaults,
    )
    if app.db.dialect == "sqlite":
        scheduler.add_job(
            checkpoint_wal,
            IntervalTrigger(seconds=WAL_CHECKPOINT_SECONDS),
            args=[app],
            id="wal_checkpoint",
            **defaults,
        )
    if app.settings.ticket_poll_interval > 0 and app.settings.ticketing == "custom":
        scheduler.add_job(
            sync_tickets,
            IntervalTrigger(seconds=app.settings.ticket_poll_interval),
            args=[app],
            id="ticket_sync",
            **defaults,
        )
    return scheduler


async def retry_tickets(app: Deskhand) -> int:
    """Offline tickets and refused assignments whose retry time came (claimed with a
    lease, so replicas never retry the same one)."""
    return await app.tickets.retries.sweep()


async def expire_approvals(app: Deskhand) -> int:
    """Undecided approvals go to the backup approvers, then expire."""
    return await app.approvals.expiry.sweep()


async def notify_queue(app: Deskhand) -> int:
    """Waiting customers whose queue position improved hear it."""
    return await app.tickets.queue.notify_improved()


async def sync_tickets(app: Deskhand) -> int:
    """Poll the ticketing system's change feed from the stored cursor."""
    return await app.tickets.syncing.poll()


async def wake_outbox(app: Deskhand) -> None:
    """Rows whose retry time came, or that another replica queued, are due now."""
    app.dispatcher.wake()


async def checkpoint_wal(app: Deskhand) -> None:
    """SQLite: the log is copied into the database here, beside the writer, rather than
    by whichever commit crosses SQLite's threshold (storage/db.py)."""
    pages = await app.db.checkpoint()
    if pages is not None and pages[0] != pages[1]:
        log.debug("sqlite.checkpoint_partial", log_pages=pages[0], copied=pages[1])


async def update_gauges(app: Deskhand) -> None:
    """Outbox and integration gauges, read when Prometheus scrapes /metrics."""
    async with app.db.uow() as uow:
        stats = await uow.outbox.stats()
    app.metrics.outbox_depth.set(stats.pending)
    app.metrics.outbox_dead_letters.set(stats.dead)
    age = 0.0
    if stats.oldest_pending_at is not None:
        age = max(0.0, (app.clock.now() - stats.oldest_pending_at).total_seconds())
    app.metrics.outbox_oldest_age.set(age)
    for host, state in app.http.circuit_states().items():
        app.metrics.integration_up.labels(host=host).set(0 if state == "open" else 1)


async def refresh_directory(app: Deskhand) -> None:
    await app.refresh_identity()
    await app.permissions.refresh(app.directory)
    await app.prepare_ticketing()  # e.g. Intercom admins who joined since


def _hour(now: datetime) -> datetime:
    return now.replace(minute=0, second=0, microsecond=0)


async def prune_outbox(app: Deskhand) -> int:
    """Delete delivered rows past their retention; one replica per hour does it."""
    now = app.clock.now()
    with background():  # requests waiting for the database go first
        async with app.db.uow() as uow:
            if not await uow.job_runs.claim("prune_outbox", _hour(now), worker=WORKER_ID):
                return 0
            removed = await uow.outbox.prune(
                done_before=now - timedelta(seconds=app.settings.outbox_retention)
            )
            await uow.commit()
    log.info("outbox.pruned", removed=removed)
    return removed
