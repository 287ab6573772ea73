"""The `deskhand` command: run, demo, db upgrade."""

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
    return parser


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
    configure_logging(
        level=settings.log_level if command != "demo" else "WARNING",
        fmt=settings.log_format if command != "demo" else "console",
    )
    if command == "demo" or (command == "run" and settings.demo_mode):
        if command == "run":
            print("SLACK_BOT_TOKEN is not set: running the local demo.", file=sys.stderr)
        asyncio.run(demo())
        return 0
    if command == "db":
        asyncio.run(db_upgrade(settings))
        return 0
    asyncio.run(serve(settings))
    return 0
