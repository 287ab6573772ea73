"""What every answer to hostile input must be, checked the same way for every endpoint.

* never a 5xx;
* a refusal is the contract's JSON error with a status docs/openapi.yaml lists for the
  endpoint;
* a refusal stores nothing (every table counted before and after);
* nothing is logged at error level (an error log is an exception deskhand did not expect).

``tally`` counts answers per endpoint and status, and ``stored_tally`` the refusals among
them that stored something (each one also fails its test); with ``$DESKHAND_HOSTILE_COUNTS``
set to a file, each test adds its counts there as ``[database, endpoint, status, answers,
refusals that stored something]`` rows (bench/hostile_soak.py reads them).
"""

from __future__ import annotations

import fcntl
import json
import os
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import structlog
from hypothesis import HealthCheck, settings
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.models import Base
from tests.support.harness import Harness
from tests.support.openapi_doc import load_openapi

COUNTS_ENV = "DESKHAND_HOSTILE_COUNTS"
EXAMPLES_ENV = "DESKHAND_HOSTILE_EXAMPLES"
# Seconds for one test of a few hundred requests on a busy 2-core machine; none in a soak.
HOSTILE_TIMEOUT = 0 if os.environ.get(EXAMPLES_ENV) else 400
# Written by the scheduler on its own, whatever requests arrive.
BACKGROUND_TABLES = {"job_runs"}

tally: Counter[tuple[str, str, int]] = Counter()
stored_tally: Counter[tuple[str, str, int]] = Counter()


def hostile_settings(examples: int) -> Any:
    """Hypothesis settings for one endpoint: ``examples`` generated requests in CI (or
    ``$DESKHAND_HOSTILE_EXAMPLES``), reproducible, and no example database in the repo."""
    soak = os.environ.get(EXAMPLES_ENV)
    return settings(
        max_examples=int(soak) if soak else examples,
        deadline=None,
        derandomize=not soak,
        database=None,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )


def write_tally(path: str | None = None) -> None:
    target = path or os.environ.get(COUNTS_ENV)
    if not target or not tally:
        return
    rows = [
        [db, endpoint, status, n, stored_tally[(db, endpoint, status)]]
        for (db, endpoint, status), n in sorted(tally.items())
    ]
    with Path(target).open("a+") as file:  # one writer at a time (pytest -n: several)
        fcntl.flock(file, fcntl.LOCK_EX)
        file.seek(0)
        text = file.read()
        file.seek(0)
        file.truncate()
        file.write(json.dumps((json.loads(text) if text else []) + rows))
    tally.clear()
    stored_tally.clear()


def backend(database_url: str) -> str:
    return "postgresql" if database_url.startswith("postgresql") else "sqlite"


@cache
def documented_statuses(method: str, path: str) -> frozenset[int]:
    """The 4xx answers docs/openapi.yaml lists for ``method path``."""
    operation = load_openapi()["paths"][path][method.lower()]
    return frozenset(int(s) for s in operation["responses"] if s.isdigit() and s[0] == "4")


def assert_error_body(status: int, body: Any) -> None:
    assert isinstance(body, dict) and set(body) == {"error"}, (status, body)
    error = body["error"]
    assert isinstance(error, dict) and set(error) <= {"code", "message", "details"}, body
    assert isinstance(error.get("code"), str) and error["code"], body
    assert isinstance(error.get("message"), str) and error["message"], body
    assert isinstance(error.get("details", []), list), body


def assert_refusal(status: int, body: Any, allowed: frozenset[int] | set[int]) -> None:
    assert status < 500, (status, body)
    assert status in allowed, (status, body, sorted(allowed))
    assert_error_body(status, body)


async def row_counts(engine: AsyncEngine) -> dict[str, int]:
    """Rows in every table deskhand owns, in one query on a connection of the test's own
    (beside deskhand's, so that counting never waits for deskhand's turn-taking)."""
    tables = [t for t in Base.metadata.sorted_tables if t.name not in BACKGROUND_TABLES]
    query = select(*(select(func.count()).select_from(t).scalar_subquery() for t in tables))
    async with engine.connect() as connection:
        row = (await connection.execute(query)).one()
    return {table.name: int(n) for table, n in zip(tables, row, strict=True)}


Tolerated = Callable[[dict[str, Any]], bool]


@contextmanager
def no_error_logs(tolerated: Tolerated | None = None) -> Iterator[list[dict[str, Any]]]:
    """Fail if deskhand logs at error level inside the block (what it logs is kept), but
    for what ``tolerated`` says is not a failure of deskhand's."""
    with structlog.testing.capture_logs() as logs:
        yield logs
    errors = [e for e in logs if e.get("log_level") in ("error", "critical", "exception")]
    errors = [e for e in errors if tolerated is None or not tolerated(e)]
    assert errors == [], errors


async def read_answer(response: Any) -> tuple[int, Any]:
    raw = await response.read()
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = raw.decode("utf-8", "replace")
    return response.status, body


async def assert_healthy(desk: Harness) -> None:
    """/healthz and /readyz answer 200 and a normal handoff is still accepted and posted."""
    for path in ("/healthz", "/readyz"):
        status, text, _ = await desk.get(path)
        assert status == 200, (path, status, text)
    handoff_id = "hostile-afterwards:1"
    status, body = await desk.handoff(handoff_id=handoff_id)
    assert status == 202, body
    await desk.settle()
    assert desk.posted_message(handoff_id) is not None
