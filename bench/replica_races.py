"""Replica races: three bot processes (`python -m bot run`) on one PostgreSQL, requests
spread across them, and races that must each have exactly one winner: claim against claim,
approve against approve, approve against reject, the same handoff webhook to two replicas
at once. Also approvals nobody decides, which every replica's expiry job finds due and
which must expire once. Then: one ticket per handoff, one refund per request, no Slack
message posted twice, no callback told twice.

The same code as tests/e2e/test_replicas.py (tests/support/bot_process_replicas.py), with
more races. PostgreSQL is a throwaway server (tests/support/postgres.py).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from bench import common


def _args() -> Any:
    p = common.parser(__doc__)
    p.add_argument("--races", type=int, default=1000, help="races in all, split evenly (1000)")
    p.add_argument("--expiring", type=int, default=10, help="approvals left to expire (10)")
    p.add_argument("--at-once", type=int, default=6, help="races in flight at a time (6)")
    p.add_argument("--seed", type=int, default=1)
    return p.parse_args()


async def _run(races: int, expiring: int, at_once: int, seed: int, directory: Path) -> Any:
    from storage.migrate import upgrade_database
    from tests.support.bot_process_replicas import RACE_KINDS, replica_run
    from tests.support.postgres import PostgresServer

    each, extra = divmod(races, len(RACE_KINDS))
    plan = {kind: each + (i < extra) for i, kind in enumerate(RACE_KINDS)}
    with PostgresServer() as server:
        await server.create_database("replica_races")
        url = server.url("replica_races")
        await upgrade_database(url)
        return await replica_run(
            url, directory, races=plan, expiring=expiring, seed=seed, at_once=at_once
        )


def main() -> int:
    args = _args()
    info = common.header("replica_races", args)
    races = 40 if args.quick else args.races
    started = time.perf_counter()
    with common.temp_dir() as directory:
        verdict = asyncio.run(_run(races, args.expiring, args.at_once, args.seed, directory))
    seconds = round(time.perf_counter() - started, 1)
    common.print_table(
        [*[[k, v] for k, v in verdict.figures.items()], ["seconds", seconds]],
        ["figure", "postgresql, 3 replicas"],
    )
    print("problems:", "none" if not verdict.problems else "")
    for problem in verdict.problems[:50]:
        print(f"  {problem}")
    common.write_results(
        "replica_races", info, seconds=seconds, figures=verdict.figures, problems=verdict.problems
    )
    return 1 if verdict.problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
