"""Memory: RSS of this process after N handoffs (default 10,000) accepted through
app.intake.accept and delivered (outbox drained to the stand-ins), against RSS after
app start with 0 handoffs. The app runs as in production (served on loopback, its
dispatcher and scheduler started); the stand-ins run in a helper process, so what they
record is not counted. gc.collect() runs before every reading. Payloads are parsed a
chunk at a time so the bench's own inputs stay small.

RSS counts what the allocator holds, not what is live: freed memory is seldom given
back, so the first batch also pays for high-water marks and one-time caches (SQLAlchemy's
statement cache, SQLite's page cache per pooled connection). With --rounds 2 the second
batch's growth is the better sign of per-handoff retention. --tracemalloc adds the top
5 allocation sites by growth (slower).
"""

from __future__ import annotations

import asyncio
import gc
import time
import tracemalloc
from typing import Any

from bench import common, procs

NAME = "memory"
CHUNK = 500


def reading(handoffs: int, base: float | None = None) -> dict[str, Any]:
    rss = common.rss_mb()  # collects first
    point = {"handoffs": handoffs, "rss_mb": round(rss, 2), "gc_objects": len(gc.get_objects())}
    if base is not None and handoffs:
        point["kb_per_handoff"] = round((rss - base) * 1024 / handoffs, 3)
    return point


async def main() -> None:
    p = common.parser(__doc__)
    p.add_argument("--handoffs", type=int, help="handoffs per round (10000; quick 500)")
    p.add_argument("--rounds", type=int, help="rounds of N handoffs (1; quick 2)")
    p.add_argument("--concurrency", type=int, default=4, help="concurrent accepts (4)")
    p.add_argument("--tracemalloc", action="store_true", help="top-5 growth sites (slower)")
    args = p.parse_args()
    n = args.handoffs or (500 if args.quick else 10_000)
    rounds = args.rounds or (2 if args.quick else 1)
    info = common.header(NAME, args)
    print(
        f"config: {rounds} round(s) of {n} handoffs, accepted {args.concurrency} at a time "
        f"while the dispatcher delivers; SQLite file in a temp dir"
    )

    from bot.handoffs.payloads import HandoffIn

    if args.tracemalloc:
        tracemalloc.start()
    points: list[dict[str, Any]] = []
    top: list[str] = []
    with common.temp_dir() as tmp, procs.StandIns() as standins:
        settings = common.settings_for(
            common.sqlite_url(tmp), standins.slack_url, standins.chatbot_url
        )
        app = common.make_app(settings)
        async with common.serving(app.web):
            await asyncio.sleep(0.5)
            base = reading(0)
            points.append(base)
            before = tracemalloc.take_snapshot() if args.tracemalloc else None
            print(f"  after start:       RSS {base['rss_mb']:8.1f} MB")
            prefix = f"mem-{common.run_id()}"
            started = time.perf_counter()
            for r in range(rounds):
                ids = common.handoff_ids(f"{prefix}-{r}", n)
                for i in range(0, n, CHUNK):
                    chunk = [
                        HandoffIn.model_validate(common.handoff_payload(h))
                        for h in ids[i : i + CHUNK]
                    ]
                    await common.accept_many(app, chunk, args.concurrency)
                    del chunk
                counts = await common.settle(app, within=7200)
                point = reading((r + 1) * n, base["rss_mb"])
                point["seconds"] = round(time.perf_counter() - started, 1)
                points.append(point)
                print(
                    f"  after {point['handoffs']:6} handoffs: RSS {point['rss_mb']:8.1f} MB "
                    f"({point['kb_per_handoff']:.2f} KB/handoff, {point['seconds']:.0f} s)"
                )
            if before is not None:
                stats = tracemalloc.take_snapshot().compare_to(before, "lineno")
                top = [str(s) for s in stats[:5]]
        delivered = standins.counts()
    total = rounds * n
    assert counts == {"done": 5 * total}, counts
    assert delivered["slack"].get("chat.postMessage") == total, delivered
    assert delivered["chatbot"] == 2 * total, delivered

    last = points[-1]
    growth = last["rss_mb"] - base["rss_mb"]
    print()
    rows = [
        [
            f"{pt['handoffs']} handoffs",
            pt["rss_mb"],
            pt["rss_mb"] - base["rss_mb"],
            pt.get("kb_per_handoff"),
            pt["gc_objects"],
        ]
        for pt in points
    ]
    if rounds > 1:
        prev = points[-2]
        marginal = (last["rss_mb"] - prev["rss_mb"]) * 1024 / n
        rows.append(
            [
                f"last round only ({n})",
                "",
                last["rss_mb"] - prev["rss_mb"],
                marginal,
                last["gc_objects"] - prev["gc_objects"],
            ]
        )
    common.print_table(rows, ["reading", "RSS MB", "growth MB", "KB/handoff", "gc objects"])
    if top:
        print("tracemalloc top 5 (growth since start):")
        for line in top:
            print(f"  {line}")
    summary = [
        common.summary_row(
            f"RSS after {total} handoffs (MB)",
            last["rss_mb"],
            base["rss_mb"],
            "MB",
            "(none set)",
            None,
        )
    ]
    summary[0]["kb_per_handoff"] = round(growth * 1024 / total, 3)
    common.write_results(
        NAME,
        info,
        config={"handoffs": n, "rounds": rounds, "concurrency": args.concurrency},
        points=points,
        tracemalloc_top5=top,
        delivered=delivered,
        summary=summary,
    )


if __name__ == "__main__":
    asyncio.run(main())
