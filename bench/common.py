"""Shared helpers for the benchmarks: machine line, results, the app, signed requests.

Processes: the bot (and any bare baseline server) runs in the bench process on loopback;
the Slack and chatbot stand-ins run in one helper process and the open-loop load
generator in another (both ``spawn``ed), so neither their CPU nor their memory is
counted against the bot (see ``bench.procs``). Product modules are imported lazily so
the helper processes start quickly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import gc
import json
import logging
import os
import platform
import shlex
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
# Fixed random values (start-up refuses placeholders: docs/configuration.md, "Secrets").
SLACK_SECRET = "feb22d55af9a0968a1ccff217e775700"
WEBHOOK_SECRET = "ade0fd5fb969ebc5c273895959b21421"
BOT_TOKEN = "xoxb-1000000001-2000000002-0a27cf083be06fa2b7e4362b"
CHANNEL = "C0ESCALATE"
AGENT = ("U0AGENT01", "ana")
LEAD = "U0LEAD001"

HANDOFF: dict[str, Any] = {
    "session_id": "sess-42",
    "customer": {"id": "c-9", "name": "Ada", "email": "ada@example.com"},
    "reason": "no_evidence",
    "priority": "high",
    "summary": "Customer cannot find their invoice for March.",
    "intent": "billing.invoice",
    "department": "billing",
    "transcript": [
        {"role": "customer", "text": "Where is my March invoice?", "at": "2026-01-05T08:58:00Z"},
        {"role": "bot", "text": "I could not find it.", "at": "2026-01-05T08:59:00Z"},
    ],
    "evidence": [{"title": "Invoices FAQ", "url": "https://help.example.com/inv", "score": 0.41}],
    "suggested_questions": ["Which email address is the account under?"],
}

# -- machine, command, arguments, results ------------------------------------------------


def machine() -> dict[str, Any]:
    import psutil

    cpu = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu,
        "cores_logical": os.cpu_count(),
        "cores_physical": psutil.cpu_count(logical=False),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "sqlite": sqlite3.sqlite_version,
        "os": platform.platform(),
    }


def machine_line(m: dict[str, Any]) -> str:
    return (
        f"{m['cpu']}, {m['cores_logical']} logical / {m['cores_physical']} physical cores, "
        f"{m['python']}, SQLite {m['sqlite']}, {m['os']}"
    )


def command(name: str) -> str:
    return f"python -m bench.{name} " + shlex.join(sys.argv[1:])


def parser(doc: str | None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a short smoke run")
    p.add_argument("--log-level", default="WARNING", help="deskhand's log level (WARNING)")
    return p


def header(name: str, args: argparse.Namespace) -> dict[str, Any]:
    logging.basicConfig(level=logging.WARNING)
    from bot.logs import configure_logging

    configure_logging(level=args.log_level, fmt="json")
    info: dict[str, Any] = {"machine": machine(), "command": command(name)}
    print(f"== bench.{name} ==")
    print(f"machine: {machine_line(info['machine'])}")
    print(f"command: {info['command']}")
    return info


def write_results(name: str, info: dict[str, Any], **data: Any) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"bench": name, **info, **data}, indent=2, default=str) + "\n")
    print(f"results: {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    return path


def summary_row(
    metric: str, ours: float, baseline: float, unit: str, goal: str, met: bool | None
) -> dict[str, Any]:
    ratio = ours / baseline if baseline else float("nan")
    return {
        "metric": metric,
        "ours": round(ours, 3),
        "baseline": round(baseline, 3),
        "unit": unit,
        "ratio": round(ratio, 3),
        "goal": goal,
        "met": met,
    }


def print_table(rows: Sequence[Sequence[Any]], head: Sequence[str]) -> None:
    cells = [[str(h) for h in head], *[[_fmt(c) for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(head))]
    for n, r in enumerate(cells):
        print(
            "  "
            + "  ".join(
                c.rjust(w) if i else c.ljust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) < 1000 else f"{value:.0f}"
    if value is None:
        return "-"
    return str(value)


def pct(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-p * len(ordered) // 100))))
    return ordered[rank - 1]


def latency_ms(seconds: Sequence[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50": round(pct(ms, 50), 3),
        "p90": round(pct(ms, 90), 3),
        "p99": round(pct(ms, 99), 3),
        "max": round(max(ms), 3) if ms else float("nan"),
        "mean": round(sum(ms) / len(ms), 3) if ms else float("nan"),
    }


def rss_mb() -> float:
    import psutil

    gc.collect()
    return float(psutil.Process().memory_info().rss) / 2**20


# -- the app --------------------------------------------------------------------------------


def run_id() -> str:
    return uuid.uuid4().hex[:8]


def handoff_payload(handoff_id: str) -> dict[str, Any]:
    payload = copy.deepcopy(HANDOFF)
    payload["handoff_id"] = handoff_id
    payload["session_id"] = f"sess-{handoff_id}"
    return payload


def handoff_ids(prefix: str, n: int) -> list[str]:
    return [f"{prefix}:{i:06d}" for i in range(n)]


@contextlib.contextmanager
def temp_dir() -> Any:
    with tempfile.TemporaryDirectory(prefix="deskhand-bench-") as d:
        yield Path(d)


def sqlite_url(directory: Path, name: str = "bench.db") -> str:
    return f"sqlite+aiosqlite:///{directory / name}"


def settings_for(database_url: str, slack_url: str, chatbot_url: str, **extra: Any) -> Any:
    from bot.config import Settings

    values: dict[str, Any] = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SLACK_SECRET,
        "SLACK_API_URL": slack_url,
        "DESKHAND_DATABASE_URL": database_url,
        "DESKHAND_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "DESKHAND_ESCALATION_CHANNEL": CHANNEL,
        "DESKHAND_CHATBOT_CALLBACK_URL": chatbot_url,
        "DESKHAND_LEADS": LEAD,
        "DESKHAND_LOG_FORMAT": "json",
        # These benches measure deskhand's own cost per delivery against a stand-in that
        # answers at once and enforces nothing: pacing to Slack's real limits (one post a
        # second per channel) would measure only the pacing, which tests/e2e/
        # test_slack_pacing.py checks against a stand-in that enforces the limits.
        "DESKHAND_SLACK_RATE_SCALE": 1000,
    }
    values.update(extra)
    return Settings.model_validate(values)


def make_app(settings: Any) -> Any:
    from bot.app import create_app
    from integrations.http import HttpClient

    # The real clock; the shared HTTP client as in production, with short retry waits.
    http = HttpClient(timeout=5.0, max_attempts=2, backoff_base=0.01, backoff_max=0.02)
    return create_app(settings, http=http)


@contextlib.asynccontextmanager
async def serving(web_app: Any) -> AsyncIterator[str]:
    """Serve an aiohttp Application on a loopback port (AppRunner); yields its root URL."""
    from aiohttp import web

    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()  # runs on_cleanup: a deskhand app stops and disposes its db


async def prepare(app: Any, *, dispatcher: bool) -> None:
    """What Deskhand.start does, with or without the background dispatcher."""
    if dispatcher:
        await app.start()
        return
    from storage.migrate import upgrade_database

    await upgrade_database(app.settings.database_url)
    await app.http.start()
    await app.refresh_identity()


async def stop(app: Any) -> None:
    with contextlib.suppress(Exception):
        await app.stop()


async def accept_many(app: Any, payloads: Sequence[Any], concurrency: int = 1) -> float:
    """app.intake.accept every parsed payload; returns the seconds it took."""
    queue = list(reversed(payloads))

    async def worker() -> None:
        while queue:
            result = await app.intake.accept(queue.pop())
            assert result.created, result.body

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


async def outbox_counts(app: Any) -> dict[str, int]:
    from sqlalchemy import func, select

    from storage.models import OutboxRow

    async with app.db.uow() as uow:
        rows = await uow.session.execute(
            select(OutboxRow.status, func.count()).group_by(OutboxRow.status)
        )
        return {status: int(n) for status, n in rows.tuples()}


async def settle(app: Any, *, within: float, drain: bool = True) -> dict[str, int]:
    """Until no outbox row is pending: drain (or wait for the background dispatcher)."""
    deadline = time.monotonic() + within
    while True:
        if drain:
            await app.dispatcher.drain()
        counts = await outbox_counts(app)
        if not counts.get("pending"):
            return counts
        if time.monotonic() > deadline:
            raise RuntimeError(f"outbox did not settle within {within}s: {counts}")
        await asyncio.sleep(0.05)


# -- signed requests ------------------------------------------------------------------------

Request = tuple[bytes, dict[str, str]]


def signed_webhook(payload: dict[str, Any]) -> Request:
    from integrations.signing import signed_headers

    raw = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    headers |= signed_headers(WEBHOOK_SECRET, raw, now=time.time())
    return raw, headers


def signed_click(handoff_id: str, action: str = "handoff_claim") -> Request:
    from bot.demo import slack_requests

    body = slack_requests.block_action(
        action_id=action,
        value=handoff_id,
        user_id=AGENT[0],
        user_name=AGENT[1],
        channel=CHANNEL,
        message_ts="1700000000.000100",
    )
    headers = slack_requests.signed(
        SLACK_SECRET, body, now=time.time(), content_type="application/x-www-form-urlencoded"
    )
    return body.encode(), headers


def statuses(results: Iterable[tuple[float, float, int]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _, _, status in results:
        counts[str(status)] = counts.get(str(status), 0) + 1
    return counts
