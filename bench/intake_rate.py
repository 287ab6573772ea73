"""Handoff intake rate: HandoffIntake.accept (the service call, parsed HandoffIn payloads)
against raw aiosqlite INSERTs of the same rows, sequentially and with concurrency 16.

Per handoff both write, in one transaction (BEGIN IMMEDIATE ... COMMIT), on a fresh
migrated SQLite file with the same pragmas (WAL, synchronous=FULL, busy_timeout,
foreign_keys): the handoff row, its "received" event and its three outbox rows (Slack
post, ticket create, chatbot callback; INSERT ... ON CONFLICT DO NOTHING). The service
also looks the handoff_id up first (idempotency) and goes through the SQLAlchemy ORM;
the raw baseline does neither. Goal: ours >= 0.3x raw.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import common

NAME = "intake_rate"
GOAL = 0.3


async def ours(url: str, payloads: list[Any], concurrency: int) -> float:
    app = common.make_app(
        common.settings_for(url, "http://127.0.0.1:9/api/", "http://127.0.0.1:9/")
    )
    try:
        seconds = await common.accept_many(app, payloads, concurrency)
        counts = await common.outbox_counts(app)
        assert counts == {"pending": 3 * len(payloads)}, counts
        return seconds
    finally:
        await common.stop(app)


def raw_rows(payload: Any) -> dict[str, Any]:
    """The values the service writes for one handoff, rendered before the clock starts."""
    from bot.customer_messages import CustomerMessages, MessageKey
    from bot.handoffs.mapping import reference_for, status_callback
    from bot.outbox.kinds import OutboxKind, chatbot_order, slack_order, ticket_order
    from storage.models import Handoff

    now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    ref = reference_for(payload.handoff_id)
    hid = payload.handoff_id
    transient = Handoff(
        handoff_id=hid, session_id=payload.session_id, ticket_system="local", reference=ref
    )
    text = CustomerMessages.load().render(MessageKey.QUEUED, payload.locale, reference=ref)
    callback = status_callback(transient, "queued", message=text)
    handoff = (
        hid,
        ref,
        payload.session_id,
        "queued",
        payload.priority.value,
        payload.reason,
        payload.summary,
        payload.intent,
        payload.department,
        payload.locale,
        payload.customer.id,
        payload.customer.name,
        payload.customer.email,
        json.dumps([t.model_dump(mode="json") for t in payload.transcript]),
        json.dumps([e.model_dump(mode="json") for e in payload.evidence]),
        json.dumps(list(payload.suggested_questions)),
        "local",
        1,
        now,
        now,
    )
    outbox = [
        (
            OutboxKind.SLACK_HANDOFF_MESSAGE.value,
            {"handoff_id": hid},
            f"handoff_message:{hid}:v1",
            slack_order(hid),
        ),
        (
            OutboxKind.TICKET_CREATE.value,
            {"handoff_id": hid},
            f"ticket.create:{hid}:create",
            ticket_order(hid),
        ),
        (
            OutboxKind.CHATBOT_CALLBACK.value,
            {"body": callback},
            f"handoff_status:{hid}:queued:v1",
            chatbot_order(hid),
        ),
    ]
    return {
        "handoff": handoff,
        "outbox": [(k, json.dumps(p), key, order, now, now, now) for k, p, key, order in outbox],
        "now": now,
    }


INSERT_HANDOFF = (
    "INSERT INTO handoffs (handoff_id, reference, session_id, status, priority, reason, "
    "summary, intent, department, locale, customer_id, customer_name, customer_email, "
    "transcript, evidence, suggested_questions, ticket_system, version, created_at, "
    "updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
INSERT_EVENT = "INSERT INTO handoff_events (handoff_pk, kind, actor, detail, at) VALUES (?,?,?,?,?)"
INSERT_OUTBOX = (
    "INSERT INTO outbox (kind, payload, idempotency_key, ordering_key, status, attempts, "
    "next_attempt_at, created_at, updated_at) VALUES (?,?,?,?,'pending',0,?,?,?) "
    "ON CONFLICT (idempotency_key) DO NOTHING"
)


async def raw(path: Path, rows: list[dict[str, Any]], concurrency: int) -> float:
    import aiosqlite

    from storage.db import SQLITE_BUSY_TIMEOUT_MS

    connections: list[Any] = []
    queue = list(reversed(rows))

    async def worker(conn: Any) -> None:
        while queue:
            row = queue.pop()
            await conn.execute("BEGIN IMMEDIATE")
            cursor = await conn.execute(INSERT_HANDOFF, row["handoff"])
            await conn.execute(INSERT_EVENT, (cursor.lastrowid, "received", None, None, row["now"]))
            await conn.executemany(INSERT_OUTBOX, row["outbox"])
            await conn.execute("COMMIT")

    try:
        for _ in range(concurrency):
            conn = await aiosqlite.connect(
                path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, isolation_level=None
            )
            connections.append(conn)
            for pragma in (
                "journal_mode=WAL",
                f"busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
                "synchronous=FULL",
                "foreign_keys=ON",
            ):
                await conn.execute(f"PRAGMA {pragma}")
        started = time.perf_counter()
        await asyncio.gather(*(worker(c) for c in connections))
        seconds = time.perf_counter() - started
        async with connections[0].execute("SELECT count(*) FROM outbox") as cursor:
            (n,) = await cursor.fetchone()  # type: ignore[misc,unused-ignore]
        assert n == 3 * len(rows), n
        return seconds
    finally:
        for conn in connections:
            await conn.close()


async def main() -> None:
    p = common.parser(__doc__)
    p.add_argument("--handoffs", type=int, help="handoffs per measurement (2000; quick 200)")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--rounds", type=int, help="rounds, median reported (3; quick 1)")
    args = p.parse_args()
    n = args.handoffs or (200 if args.quick else 2000)
    rounds = args.rounds or (1 if args.quick else 3)
    info = common.header(NAME, args)
    print(
        f"config: {n} handoffs per run, concurrency 1 and {args.concurrency}, "
        f"{rounds} round(s), median; fresh SQLite file per run"
    )

    from bot.handoffs.payloads import HandoffIn
    from storage.migrate import upgrade_database

    rates: dict[str, list[float]] = {}
    with common.temp_dir() as tmp:
        for r in range(rounds):
            prefix = f"bench-{common.run_id()}"
            payloads = [
                HandoffIn.model_validate(common.handoff_payload(h))
                for h in common.handoff_ids(prefix, n)
            ]
            rows = [raw_rows(payload) for payload in payloads]
            for c in (1, args.concurrency):
                for who in ("raw", "ours"):
                    db = tmp / f"{who}-{c}-{r}.db"
                    url = common.sqlite_url(tmp, db.name)
                    await upgrade_database(url)
                    if who == "raw":
                        seconds = await raw(db, rows, c)
                    else:
                        seconds = await ours(url, payloads, c)
                    rates.setdefault(f"{who}-c{c}", []).append(n / seconds)
                    print(
                        f"  round {r + 1}: {who:4} concurrency {c:2}: {n / seconds:8.1f} handoffs/s"
                    )

    median = {k: statistics.median(v) for k, v in rates.items()}
    summary, table = [], []
    for c in (1, args.concurrency):
        o, b = median[f"ours-c{c}"], median[f"raw-c{c}"]
        label = "sequential" if c == 1 else f"concurrency {c}"
        row = common.summary_row(
            f"intake {label}", o, b, "handoffs/s", f">= {GOAL}x raw", o / b >= GOAL
        )
        summary.append(row)
        table.append([label, o, b, row["ratio"], row["goal"], "yes" if row["met"] else "NO"])
    print()
    common.print_table(table, ["intake", "ours /s", "raw /s", "ratio", "goal", "met"])
    common.write_results(
        NAME,
        info,
        config={"handoffs": n, "concurrency": args.concurrency, "rounds": rounds},
        rates=rates,
        median=median,
        summary=summary,
    )


if __name__ == "__main__":
    asyncio.run(main())
