"""The `deskhand` command: run, demo, db upgrade, outbox list/retry."""

from __future__ import annotations

import argparse
import asyncio
import gc
import signal
import sys

from aiohttp import web

from bot.config import ConfigError, Settings, load_settings
from bot.logs import configure_logging


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deskhand", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="run the bot (the local demo when SLACK_BOT_TOKEN is unset)")
    sub.add_parser("demo", help="run the whole escalation flow locally and exit")
    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply pending migrations")
    outbox = sub.add_parser("outbox", help="dead letters: list them, send them again")
    outbox_sub = outbox.add_subparsers(dest="outbox_command", required=True)
    listing = outbox_sub.add_parser("list", help="list deliveries given up on")
    listing.add_argument("--dead", action="store_true", required=True, help="dead letters")
    listing.add_argument("--json", action="store_true", help="one JSON object a line")
    again = outbox_sub.add_parser("retry", help="queue dead letters again (due now)")
    again.add_argument("ids", nargs="*", type=int, metavar="ID", help="dead letters' ids")
    again.add_argument("--dead", action="store_true", help="every dead letter")
    return parser


def outbox_command(args: argparse.Namespace, settings: Settings) -> int:
    from bot.outbox import operator

    url = settings.database_url
    if args.outbox_command == "list":
        asyncio.run(operator.list_dead(url, as_json=args.json, say=print))
        return 0
    if bool(args.ids) == bool(args.dead):
        print("deskhand: outbox retry takes either --dead or ids", file=sys.stderr)
        return 2
    outcome = asyncio.run(operator.retry(url, None if args.dead else list(args.ids)))
    return operator.report_retry(
        outcome, say=print, complain=lambda line: print(line, file=sys.stderr)
    )


def settle_garbage_collector() -> None:
    """Once started: move everything built so far (modules, the app, its caches) out of
    the cyclic collector's sight. A full collection then walks only what requests
    create, instead of pausing the event loop for every object ever loaded."""
    gc.collect()
    gc.freeze()


async def serve(settings: Settings) -> None:
    from bot.app import create_app

    app = create_app(settings)
    runner = web.AppRunner(app.web, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    settle_garbage_collector()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"deskhand listening on {settings.host}:{settings.port}", file=sys.stderr)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


async def demo() -> None:
    from bot.demo.runner import Demo

    await Demo(say=print).run()


async def db_upgrade(settings: Settings) -> None:
    from storage.migrate import upgrade_database

    await upgrade_database(settings.database_url)
    print("database is up to date")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = args.command or "run"
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"deskhand: {exc}", file=sys.stderr)
        return 2
    # The demo and the outbox commands print for a person (or a script reading stdout).
    quiet = command in ("demo", "outbox")
    configure_logging(
        level="WARNING" if quiet else settings.log_level,
        fmt="console" if quiet else settings.log_format,
    )
    if command == "demo" or (command == "run" and settings.demo_mode):
        if command == "run":
            print("SLACK_BOT_TOKEN is not set: running the local demo.", file=sys.stderr)
        asyncio.run(demo())
        return 0
    if command == "db":
        asyncio.run(db_upgrade(settings))
        return 0
    if command == "outbox":
        return outbox_command(args, settings)
    asyncio.run(serve(settings))
    return 0
