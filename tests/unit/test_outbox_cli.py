"""`deskhand outbox list --dead` and `deskhand outbox retry`, run in-process with
`bot.cli.main` against the test's database (a SQLite file, and PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.cli import main
from storage.db import Database
from storage.models import OutboxRow
from tests.support import databases
from tests.support.cli_logging import logging_put_back

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


async def _seed(url: str) -> dict[str, int]:
    """Two dead letters (one with a multi-line error), one pending row, one delivered."""
    db = Database(url)
    try:
        async with db.uow() as uow:
            for n, key in enumerate(["dead-1", "dead-2", "live", "sent"]):
                await uow.outbox.add(
                    "chatbot.callback", {"n": n}, key=key, now=T0 + timedelta(seconds=n)
                )
            await uow.commit()
        async with db.uow() as uow:
            claimed = await uow.outbox.claim_due(
                now=T0 + timedelta(seconds=10), limit=10, lease=timedelta(seconds=60)
            )
            by_key = {m.idempotency_key: m for m in claimed}
            later = T0 + timedelta(hours=48)
            await uow.outbox.mark_dead(by_key["dead-1"], now=later, error="[chatbot] 503\nagain")
            await uow.outbox.mark_dead(by_key["dead-2"], now=later, error="400 bad request")
            await uow.outbox.mark_done(by_key["sent"], now=later)
            await uow.outbox.mark_retry(
                by_key["live"], now=later, next_attempt_at=later, error="503"
            )
            await uow.commit()
        return {key: m.id for key, m in by_key.items()}
    finally:
        await db.dispose()


async def _rows(url: str) -> dict[str, OutboxRow]:
    db = Database(url)
    try:
        async with db.reads() as uow:
            rows = await uow.session.scalars(select(OutboxRow))
            return {row.idempotency_key: row for row in rows}
    finally:
        await db.dispose()


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str) -> Iterator[str]:
    """The CLI's environment: the test database, no other settings and no .env file."""
    for name in list(os.environ):
        if name.startswith(("DESKHAND_", "SLACK_")) and name != databases.ENV_VAR:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DESKHAND_DATABASE_URL", database_url)
    with logging_put_back():
        yield database_url


def test_list_dead_prints_one_dead_letter_a_line(
    cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = asyncio.run(_seed(cli_env))
    assert main(["outbox", "list", "--dead"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2  # the multi-line error is flattened
    fields = {line.split("\t")[0]: line.split("\t") for line in lines}
    first = fields[str(ids["dead-1"])]
    assert first[1:4] == ["chatbot.callback", "dead-1", "attempts=1"]
    assert first[4] == f"first_due={T0.isoformat()}"
    assert first[-1] == "[chatbot] 503 again"
    assert fields[str(ids["dead-2"])][-1] == "400 bad request"


def test_list_dead_as_json(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    ids = asyncio.run(_seed(cli_env))
    assert main(["outbox", "list", "--dead", "--json"]) == 0
    letters = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {letter["id"] for letter in letters} == {ids["dead-1"], ids["dead-2"]}
    one = next(letter for letter in letters if letter["key"] == "dead-1")
    assert (one["kind"], one["attempts"], one["last_error"]) == (
        "chatbot.callback",
        1,
        "[chatbot] 503\nagain",
    )
    assert datetime.fromisoformat(one["first_due_at"]) == T0


def test_retry_ids_queues_them_again_and_leaves_others_alone(
    cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = asyncio.run(_seed(cli_env))
    before = datetime.now(UTC)
    status = main(["outbox", "retry", str(ids["dead-1"]), str(ids["live"]), "999999"])
    out, err = capsys.readouterr()
    assert status == 1  # not everything asked for was retried
    assert out.splitlines() == [f"queued again: {ids['dead-1']}"]
    assert err.splitlines() == [
        f"left alone: {ids['live']} (it is pending, not a dead letter)",
        "left alone: 999999 (no such row)",
    ]
    rows = asyncio.run(_rows(cli_env))
    retried = rows["dead-1"]
    assert (retried.status, retried.failures, retried.attempts) == ("pending", 0, 1)
    # Due now, and its give-up clock starts again now.
    assert retried.first_due_at is not None and retried.first_due_at >= before
    assert retried.next_attempt_at == retried.first_due_at
    live = rows["live"]
    assert (live.status, live.last_error, live.failures) == ("pending", "503", 1)
    assert rows["dead-2"].status == "dead"


def test_retry_dead_queues_every_dead_letter(
    cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = asyncio.run(_seed(cli_env))
    assert main(["outbox", "retry", "--dead"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"queued again: {ids['dead-1']}",
        f"queued again: {ids['dead-2']}",
    ]
    rows = asyncio.run(_rows(cli_env))
    assert {k: r.status for k, r in rows.items()} == {
        "dead-1": "pending",
        "dead-2": "pending",
        "live": "pending",
        "sent": "done",
    }
    # Nothing is dead any more: a second run has nothing to do, and says so.
    assert main(["outbox", "retry", "--dead"]) == 0
    assert capsys.readouterr().out.strip() == "no dead letters"
    assert main(["outbox", "list", "--dead"]) == 0
    assert capsys.readouterr().out == ""


def test_retry_needs_either_ids_or_dead(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["outbox", "retry"]) == 2
    assert main(["outbox", "retry", "--dead", "3"]) == 2
    assert "either --dead or ids" in capsys.readouterr().err
