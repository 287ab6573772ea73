"""Hostile-input soak: the hostile-input suites (tests/e2e/test_hostile_input.py and
tests/e2e/test_hostile_endpoints.py) with many more generated requests per endpoint, on each
database; then a table of what every endpoint was sent and how it answered.

The suites are run as they are, by pytest in a subprocess per database, with
``DESKHAND_HOSTILE_EXAMPLES`` (requests per test: at least that many per endpoint) and
``DESKHAND_HOSTILE_COUNTS`` (a file each test adds its answer counts to:
tests/support/hostile_checks.py). Every request is checked as in CI (no 5xx, a refusal is
the contract's JSON error and stores nothing, nothing logged at error level, no secret in
an answer or a log, the app healthy afterwards); in a soak the generated requests are not
derandomized, so each run tries new ones. A failing test stops at its first failure (and
hypothesis then shrinks it): the table still counts what was tried, and the failures are
printed. PostgreSQL is a throwaway server (tests/support/postgres.py), so its server
binaries are needed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench import common

SUITES = ["tests/e2e/test_hostile_input.py", "tests/e2e/test_hostile_endpoints.py"]
EXAMPLES_ENV = "DESKHAND_HOSTILE_EXAMPLES"  # tests/support/hostile_checks.py
COUNTS_ENV = "DESKHAND_HOSTILE_COUNTS"
DATABASES_ENV = "DESKHAND_TEST_DATABASES"  # tests/support/databases.py
QUICK_PER_ENDPOINT = 50


def _args() -> Any:
    p = common.parser(__doc__)
    p.add_argument(
        "--per-endpoint", type=int, default=10_000, help="generated requests per test (10000)"
    )
    p.add_argument("--databases", default="sqlite,postgresql", help="sqlite,postgresql")
    p.add_argument(
        "--sequential",
        action="store_true",
        help="one database after the other (default: both at once)",
    )
    p.add_argument("-k", dest="select", default=None, help="pytest -k: only these tests")
    return p.parse_args()


def _run(database: str, per_endpoint: int, select: str | None, directory: Path) -> dict[str, Any]:
    """pytest on the suites for one database; its counts, exit status and failures."""
    counts = directory / f"counts-{database}.json"
    common.RESULTS.mkdir(parents=True, exist_ok=True)
    log = common.RESULTS / f"hostile_soak-{database}.log"  # the failures in full
    env = os.environ | {
        EXAMPLES_ENV: str(per_endpoint),
        COUNTS_ENV: str(counts),
        DATABASES_ENV: database,
    }
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *SUITES]
    command += ["-k", select] if select else []
    started = time.perf_counter()
    with log.open("w") as out:
        done = subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    seconds = time.perf_counter() - started
    lines = log.read_text(errors="replace").splitlines()
    failures = [line for line in lines if line.startswith(("FAILED", "ERROR"))]
    failures += [line[:300] for line in lines if line.lstrip(" |").startswith("E ")][:10]
    return {
        "database": database,
        "log": str(log),
        "seconds": round(seconds, 1),
        "exit_status": done.returncode,
        "rows": json.loads(counts.read_text()) if counts.exists() else [],
        "failures": failures,
        "summary": lines[-1] if lines else "",
    }


def _table(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (endpoint, database): requests, 5xx, refusals that stored something."""
    tried: Counter[tuple[str, str]] = Counter()
    server_errors: Counter[tuple[str, str]] = Counter()
    stored: Counter[tuple[str, str]] = Counter()
    statuses: dict[tuple[str, str], Counter[int]] = {}
    for run in runs:
        for database, endpoint, status, answers, *rest in run["rows"]:
            key = (endpoint, database)
            tried[key] += answers
            server_errors[key] += answers if status >= 500 else 0
            stored[key] += rest[0] if rest else 0
            statuses.setdefault(key, Counter())[status] += answers
    return [
        {
            "endpoint": endpoint,
            "database": database,
            "requests": tried[(endpoint, database)],
            "5xx": server_errors[(endpoint, database)],
            "stored_refusals": stored[(endpoint, database)],
            "answers": dict(sorted(statuses[(endpoint, database)].items())),
        }
        for endpoint, database in sorted(tried, key=lambda k: (k[1], k[0]))
    ]


def main() -> int:
    args = _args()
    info = common.header("hostile_soak", args)
    per_endpoint = QUICK_PER_ENDPOINT if args.quick else args.per_endpoint
    databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    started = time.perf_counter()
    with common.temp_dir() as directory:
        workers = 1 if args.sequential else len(databases)
        with ThreadPoolExecutor(max_workers=max(workers, 1)) as pool:
            runs = list(
                pool.map(lambda db: _run(db, per_endpoint, args.select, directory), databases)
            )
    wall = time.perf_counter() - started
    rows = _table(runs)
    common.print_table(
        [
            [
                r["endpoint"],
                r["database"],
                r["requests"],
                r["5xx"],
                r["stored_refusals"],
                " ".join(f"{s}:{n}" for s, n in r["answers"].items()),
            ]
            for r in rows
        ],
        ["endpoint", "database", "requests", "5xx", "refusals stored", "answers by status"],
    )
    for run in runs:
        print(f"{run['database']}: {run['seconds']} s, pytest: {run['summary']} ({run['log']})")
    print(f"wall time: {wall:.1f} s ({per_endpoint} generated requests per test)")
    short = [r for r in rows if r["requests"] < per_endpoint]
    for r in short:
        print(f"  fewer than {per_endpoint}: {r['endpoint']} on {r['database']} ({r['requests']})")
    failures = [f"{run['database']}: {line}" for run in runs for line in run["failures"]]
    problems = failures + [
        f"{r['endpoint']} on {r['database']}: {r['5xx']} 5xx, {r['stored_refusals']} stored"
        for r in rows
        if r["5xx"] or r["stored_refusals"]
    ]
    problems += [
        f"{run['database']}: pytest exited {run['exit_status']}"
        for run in runs
        if run["exit_status"]
    ]
    print("problems:", "none" if not problems else "")
    for problem in problems[:50]:
        print(f"  {problem}")
    common.write_results(
        "hostile_soak",
        info,
        per_endpoint=per_endpoint,
        wall_seconds=round(wall, 1),
        rows=rows,
        runs=[{k: v for k, v in run.items() if k != "rows"} for run in runs],
    )
    return 1 if problems or not rows else 0


if __name__ == "__main__":
    raise SystemExit(main())
