"""Three bot processes on one PostgreSQL, requests spread across them. Each race asks two
replicas for the same thing at once and has exactly one winner: claim against claim,
approve against approve, approve against reject, the same handoff webhook twice. Across all
of it: one ticket per handoff, one refund per request, and the approval-expiry job, which
runs in every replica, expires each undecided request once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support import databases
from tests.support.bot_process_replicas import RACE_KINDS, replica_run
from tests.support.postgres import PostgresServer

RACES_EACH = 13  # 52 races; bench/replica_races.py runs 1,000
EXPIRING = 3


@pytest.fixture
async def shared_database(
    postgres_server: PostgresServer, postgres_template: str
) -> AsyncIterator[str]:
    """A fresh, migrated PostgreSQL database for the three replicas (SQLite is one
    process's database: there are no replicas on it)."""
    name = await databases.create_test_database(postgres_server, postgres_template)
    try:
        yield postgres_server.url(name)
    finally:
        await postgres_server.drop_database(name)


@pytest.mark.postgres
async def test_every_race_between_replicas_has_one_winner(
    shared_database: str, tmp_path: Path
) -> None:
    races = dict.fromkeys(RACE_KINDS, RACES_EACH)
    verdict = await replica_run(shared_database, tmp_path, races=races, expiring=EXPIRING, seed=11)

    assert verdict.problems == [], verdict.problems
    assert verdict.figures["races"] == RACES_EACH * len(RACE_KINDS)
    # One ticket per handoff raced (claims and double webhooks), one refund per executed
    # approval: nothing was counted twice, and the counts are what the races made.
    assert verdict.figures["tickets"] == 2 * RACES_EACH
    assert RACES_EACH <= verdict.figures["refunds"] <= 2 * RACES_EACH
