"""The cost of one offline-ticket retry sweep (the ticket_retries job) with 100,000 stored
tickets of which 100 are due, beside the same sweep with 100 stored (all due).

Each stored handoff has a ticket_fallbacks row: the 100 due are offline and due now; the
others are a mix of resolved fallbacks and offline ones due days from now, which the sweep
must not touch. The ticketing system stays unreachable (a stub raising Unavailable at
once), so each round retries the same 100 rows: it loads each handoff, tries to file it,
and reschedules it. The clock (a FakeClock) moves on by the retry interval between rounds,
so the same rows fall due again. Goal: the big table's sweep under 1.5x the small one's.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench import common

NAME = "retry_sweep"
GOAL = 1.5
DUE = 100


class DownTicketing:
    system = "custom"

    async def create_ticket(self, *_: Any, **__: Any) -> Any:
        from integrations.errors import Unavailable

        raise Unavailable(self.system, "POST /tickets: ConnectionRefusedError")

    async def assign(self, *_: Any) -> None: ...
    async def unassign(self, *_: Any) -> None: ...
    async def add_comment(self, *_: Any, **__: Any) -> None: ...
    async def set_status(self, *_: Any) -> None: ...


async def populate(app: Any, stored: int, now: datetime) -> None:
    """stored handoffs, each with a fallback row; the first DUE offline and due now."""
    from sqlalchemy import insert

    from storage.models import Handoff, TicketFallback

    chunk = 5000
    for start in range(0, stored, chunk):
        ids = range(start, min(stored, start + chunk))
        handoffs = [
            {
                "handoff_id": f"h-{i}",
                "reference": f"DH-{i:08d}",
                "session_id": f"s-{i}",
                "status": "queued",
                "priority": "normal",
                "reason": "other",
                "summary": "sweep bench",
                "customer_id": f"c-{i}",
                "transcript": [],
                "evidence": [],
                "suggested_questions": [],
                "ticket_system": "custom",
                "offline_reference": f"OFF-{i:08d}",
                "version": 1,
                "created_at": now - timedelta(hours=1),
                "updated_at": now,
            }
            for i in ids
        ]
        async with app.db.uow() as uow:
            await uow.session.execute(insert(Handoff), handoffs)
            pks = dict(
                (
                    await uow.session.execute(
                        Handoff.__table__.select()
                        .with_only_columns(Handoff.handoff_id, Handoff.id)
                        .where(Handoff.handoff_id.in_([h["handoff_id"] for h in handoffs]))
                    )
                ).all()
            )
            rows = []
            for i in ids:
                due = i < DUE
                resolved = not due and i % 2 == 0
                rows.append(
                    {
                        "handoff_pk": pks[f"h-{i}"],
                        "kind": "offline",
                        "reason": "integration_unavailable",
                        "status": "resolved" if resolved else "pending",
                        "attempts": 1,
                        "next_attempt_at": now if due else now + timedelta(days=10),
                        "deadline": now + timedelta(days=30),
                        "created_at": now - timedelta(hours=1, seconds=stored - i),
                        "updated_at": now,
                    }
                )
            await uow.session.execute(insert(TicketFallback), rows)
            await uow.commit()


async def measure(tmp: Any, stored: int, rounds: int) -> list[float]:
    from bot.app import create_app
    from bot.clock import FakeClock
    from storage.migrate import upgrade_database

    url = common.sqlite_url(tmp, f"sweep-{stored}.db")
    await upgrade_database(url)
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    settings = common.settings_for(
        url,
        "http://127.0.0.1:9/api/",
        "http://127.0.0.1:9/",
        DESKHAND_TICKET_DRAIN_PER_MINUTE=6 * DUE,  # one sweep takes all 100
    )
    app = create_app(settings, clock=clock, ticketing=DownTicketing())
    try:
        await populate(app, stored, clock.now())
        seconds = []
        for _ in range(rounds + 1):  # the first round warms caches up and is not counted
            started = time.perf_counter()
            swept = await app.tickets.retries.sweep()
            seconds.append(time.perf_counter() - started)
            assert swept == DUE, swept
            clock.advance(settings.offline_retry_interval + 1)
        return seconds[1:]
    finally:
        await app.db.dispose()


async def main() -> None:
    p = common.parser(__doc__)
    p.add_argument("--stored", type=int, help="tickets stored in the big run (100000; quick 20000)")
    p.add_argument("--rounds", type=int, help="sweeps measured per run (10; quick 3)")
    args = p.parse_args()
    big = args.stored or (20_000 if args.quick else 100_000)
    rounds = args.rounds or (3 if args.quick else 10)
    info = common.header(NAME, args)
    print(f"config: {DUE} due; {DUE} stored vs {big} stored; {rounds} sweeps each, median")
    results = {}
    with common.temp_dir() as tmp:
        for stored in (DUE, big):
            started = time.perf_counter()
            results[stored] = await measure(tmp, stored, rounds)
            median_ms = statistics.median(results[stored]) * 1000
            took = time.perf_counter() - started
            print(f"  {stored:7} stored: median sweep {median_ms:8.1f} ms ({took:.0f} s in all)")
    small, large = (statistics.median(results[n]) * 1000 for n in (DUE, big))
    row = common.summary_row(
        f"sweep {big} stored vs {DUE}", large, small, "ms", f"< {GOAL}x", large / small < GOAL
    )
    print()
    common.print_table(
        [
            [
                f"{DUE} due of {big}",
                large,
                small,
                row["ratio"],
                row["goal"],
                "yes" if row["met"] else "NO",
            ]
        ],
        ["sweep", f"{big} ms", f"{DUE} ms", "ratio", "goal", "met"],
    )
    common.write_results(
        NAME,
        info,
        config={"stored": big, "rounds": rounds, "due": DUE},
        seconds={str(k): v for k, v in results.items()},
        summary=[row],
    )


if __name__ == "__main__":
    asyncio.run(main())
