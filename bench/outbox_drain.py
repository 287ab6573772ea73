"""Outbox drain rate: N handoffs accepted with the dispatcher NOT running, then
app.dispatcher.drain() timed until every row is delivered to the Slack and chatbot
stand-ins (which run in a helper process on loopback).

Each handoff makes 5 rows: its Slack post, ticket create (local ticketing: database
only), first chatbot callback, then (queued by the ticket create) a Slack chat.update
and a second callback. Baseline: as many raw chat.postMessage calls as rows delivered,
through slack_sdk's AsyncWebClient built as the product builds it (make_slack_client:
no shared session, so a new connection per call), with the rendered handoff message,
sequentially and with the dispatcher's concurrency (16). Also shown for diagnosis: the
same calls through one AsyncWebClient sharing an aiohttp session (keep-alive).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench import common, procs

NAME = "outbox_drain"


async def rendered_message(app: Any, handoff_id: str) -> dict[str, Any]:
    from bot.handoffs import blocks
    from bot.handoffs.mapping import message_marker, to_view

    async with app.db.uow() as uow:
        handoff = await uow.handoffs.get(handoff_id)
        events = await uow.handoffs.recent_events(handoff.id)
    return dict(blocks.handoff_message(to_view(handoff, events), marker=message_marker(handoff_id)))


async def raw_calls(client: Any, message: dict[str, Any], calls: int, concurrency: int) -> float:
    remaining = [calls]

    async def worker() -> None:
        while remaining[0] > 0:
            remaining[0] -= 1
            response = await client.chat_postMessage(channel=common.CHANNEL, **message)
            assert response["ok"], response

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


async def main() -> None:
    p = common.parser(__doc__)
    p.add_argument(
        "--handoffs", type=int, help="handoffs accepted before the drain (2000; quick 200)"
    )
    p.add_argument("--concurrency", type=int, default=16, help="baseline concurrency (16)")
    args = p.parse_args()
    n = args.handoffs or (200 if args.quick else 2000)
    info = common.header(NAME, args)
    print(f"config: {n} handoffs, SQLite file in a temp dir, stand-ins in a helper process")

    import aiohttp
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.handoffs.payloads import HandoffIn
    from bot.slack_api import make_slack_client

    with common.temp_dir() as tmp, procs.StandIns() as standins:
        settings = common.settings_for(
            common.sqlite_url(tmp), standins.slack_url, standins.chatbot_url
        )
        app = common.make_app(settings)
        try:
            await common.prepare(app, dispatcher=False)
            ids = common.handoff_ids(f"drain-{common.run_id()}", n)
            payloads = [HandoffIn.model_validate(common.handoff_payload(h)) for h in ids]
            accept_s = await common.accept_many(app, payloads, 1)
            queued = await common.outbox_counts(app)
            before = standins.counts()
            started = time.perf_counter()
            counts = await common.settle(app, within=1800)
            drain_s = time.perf_counter() - started
            after = standins.counts()
            message = await rendered_message(app, ids[0])
        finally:
            await common.stop(app)
        rows = counts.get("done", 0)
        slack = {k: v - before["slack"].get(k, 0) for k, v in after["slack"].items()}
        slack = {k: v for k, v in slack.items() if v}
        delivered = {"slack": slack, "chatbot_callbacks": after["chatbot"] - before["chatbot"]}
        assert counts == {"done": 5 * n}, counts
        assert slack.get("chat.postMessage") == n and slack.get("chat.update") == n, slack
        assert delivered["chatbot_callbacks"] == 2 * n, delivered

        token, base = common.BOT_TOKEN, standins.slack_url
        baseline: dict[str, float] = {}
        client = make_slack_client(token=token, base_url=base, timeout=10)
        for c in (1, args.concurrency):
            baseline[f"sdk-c{c}"] = rows / await raw_calls(client, message, rows, c)
        async with aiohttp.ClientSession() as session:
            shared = AsyncWebClient(token=token, base_url=base, session=session)
            c = args.concurrency
            baseline[f"sdk-shared-session-c{c}"] = rows / await raw_calls(shared, message, rows, c)

    ours_rows, ours_handoffs = rows / drain_s, n / drain_s
    raw = baseline[f"sdk-c{args.concurrency}"]
    print(
        f"accepted {n} handoffs in {accept_s:.2f} s ({n / accept_s:.0f}/s, not part of the figure)"
    )
    print(f"queued before drain: {queued}; delivered: {delivered}")
    print(f"drain: {rows} rows in {drain_s:.2f} s")
    print()
    table = [
        ["ours: dispatcher.drain() rows/s", ours_rows, "", ""],
        ["ours: handoffs/s (5 rows each)", ours_handoffs, "", ""],
        [
            "raw chat.postMessage, sequential /s",
            baseline["sdk-c1"],
            ours_rows / baseline["sdk-c1"],
            "",
        ],
        [
            f"raw chat.postMessage, concurrency {args.concurrency} /s",
            raw,
            ours_rows / raw,
            "<- baseline",
        ],
        [
            f"raw, shared session, concurrency {args.concurrency} /s",
            baseline[f"sdk-shared-session-c{args.concurrency}"],
            ours_rows / baseline[f"sdk-shared-session-c{args.concurrency}"],
            "(diagnosis)",
        ],
    ]
    common.print_table(table, ["drain", "rate", "ours rows/s ÷ this", ""])
    summary = [
        common.summary_row(
            "drain rows/s vs raw chat.postMessage/s (c16)",
            ours_rows,
            raw,
            "per s",
            "(none set)",
            None,
        ),
        common.summary_row(
            "drain handoffs/s vs raw chat.postMessage/s (c16)",
            ours_handoffs,
            raw,
            "per s",
            "(none set)",
            None,
        ),
    ]
    common.write_results(
        NAME,
        info,
        config={"handoffs": n, "concurrency": args.concurrency, "baseline_calls": rows},
        accept_seconds=accept_s,
        drain_seconds=drain_s,
        rows=rows,
        delivered=delivered,
        rates={"rows_per_s": ours_rows, "handoffs_per_s": ours_handoffs, **baseline},
        summary=summary,
    )


if __name__ == "__main__":
    asyncio.run(main())
