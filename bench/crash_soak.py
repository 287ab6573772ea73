"""Crash soak: SIGKILL the bot (a real `python -m bot run` process) at random moments while
handoffs, customer messages, claim and resolve clicks, refund requests and approve clicks
flow, start it again, repeat; then drain and check, on each database, that every accepted
request reached its end state and nothing was posted, filed, called back or refunded twice.

Half the kills fall at a random point of the load, half right after a click was acked.
The same code as tests/e2e/test_crash_recovery.py (tests/support/bot_process_crash.py),
with more kills. PostgreSQL is a throwaway server (tests/support/postgres.py), so its
server binaries are needed.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from bench import common


def _args() -> Any:
    p = common.parser(__doc__)
    p.add_argument("--kills", type=int, default=50, help="kills per database (50)")
    p.add_argument("--databases", default="sqlite,postgresql", help="sqlite,postgresql")
    p.add_argument("--seed", type=int, default=1)
    return p.parse_args()


async def _one(database: str, kills: int, seed: int, directory: Path) -> dict[str, Any]:
    from storage.migrate import upgrade_database
    from tests.support.bot_process_crash import crash_run

    started = time.perf_counter()
    if database == "sqlite":
        url = common.sqlite_url(directory, "crash.db")
        await upgrade_database(url)
        verdict = await crash_run(url, directory, kills=kills, seed=seed, tag="soak")
    else:
        from tests.support.postgres import PostgresServer

        with PostgresServer() as server:
            await server.create_database("crash_soak")
            url = server.url("crash_soak")
            await upgrade_database(url)
            verdict = await crash_run(url, directory, kills=kills, seed=seed, tag="soak")
    return {
        "database": database,
        "seconds": round(time.perf_counter() - started, 1),
        "figures": verdict.figures,
        "problems": verdict.problems,
    }


def main() -> int:
    args = _args()
    info = common.header("crash_soak", args)
    kills = 3 if args.quick else args.kills
    runs = []
    for database in [d.strip() for d in args.databases.split(",") if d.strip()]:
        with common.temp_dir() as directory:
            runs.append(asyncio.run(_one(database, kills, args.seed, directory)))
    names = list(runs[0]["figures"]) if runs else []
    common.print_table(
        [[name, *(run["figures"].get(name) for run in runs)] for name in names]
        + [["seconds", *(run["seconds"] for run in runs)]],
        ["figure", *(run["database"] for run in runs)],
    )
    problems = [f"{run['database']}: {p}" for run in runs for p in run["problems"]]
    print("problems:", "none" if not problems else "")
    for problem in problems[:50]:
        print(f"  {problem}")
    common.write_results("crash_soak", info, kills=kills, runs=runs)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
