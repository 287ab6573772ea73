"""`deskhand outbox …`: an operator lists dead letters and queues them again.

Works on DESKHAND_DATABASE_URL while the bot runs: a retried row is pending and due now,
and the running bot's poll job (DESKHAND_OUTBOX_POLL_INTERVAL) delivers it. A retry is a
compare-and-set on the row's status, so a row that is not a dead letter (delivered,
already retried, being delivered) is left alone and reported.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from bot.clock import Clock, SystemClock
from bot.text import escape_mrkdwn, truncate
from storage.db import Database
from storage.outbox import DeadLetter

Say = Callable[[str], None]


@dataclass(frozen=True)
class RetryOutcome:
    retried: list[int]
    # id -> why it was left alone ("pending", "done", "no such row")
    refused: dict[int, str]


def _one_line(text: str | None, limit: int = 300) -> str:
    """An error on one line (a stack of them would break `one dead letter a line`)."""
    flat = " ".join((text or "-").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def dead_letter_line(letter: DeadLetter) -> str:
    first_due = letter.first_due_at.isoformat() if letter.first_due_at else "-"
    return "\t".join(
        [
            str(letter.id),
            letter.kind,
            letter.idempotency_key,
            f"attempts={letter.attempts}",
            f"first_due={first_due}",
            f"dead_at={letter.updated_at.isoformat()}",
            _one_line(letter.last_error),
        ]
    )


def code_text(text: str) -> str:
    """Text for inside a mrkdwn code span: escaped, and no backtick to end it early."""
    return escape_mrkdwn(text).replace("`", "'")


def dead_letter_mrkdwn(letter: DeadLetter) -> str:
    """One line of `/desk deadletters`: everything is escaped (keys hold callers' ids)."""
    key = code_text(truncate(letter.idempotency_key, 120))
    error = escape_mrkdwn(truncate(_one_line(letter.last_error, 400), 200))
    when = letter.updated_at.strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"• #{letter.id} `{code_text(letter.kind)}` key `{key}`: dead since {when}, "
        f"after {letter.attempts} attempt{'s' if letter.attempts != 1 else ''}; "
        f"last error: {error}"
    )


def dead_letter_json(letter: DeadLetter) -> str:
    return json.dumps(
        {
            "id": letter.id,
            "kind": letter.kind,
            "key": letter.idempotency_key,
            "attempts": letter.attempts,
            "first_due_at": letter.first_due_at.isoformat() if letter.first_due_at else None,
            "dead_at": letter.updated_at.isoformat(),
            "last_error": letter.last_error,
        },
        ensure_ascii=False,
    )


async def list_dead(url: str, *, as_json: bool, say: Say, limit: int | None = None) -> int:
    """Print every dead letter, the most recent first, one a line; how many."""
    db = Database(url)
    try:
        async with db.reads() as uow:
            letters = await uow.outbox.dead_letters(limit=limit)
    finally:
        await db.dispose()
    for letter in letters:
        say(dead_letter_json(letter) if as_json else dead_letter_line(letter))
    return len(letters)


async def retry(url: str, ids: list[int] | None, *, clock: Clock | None = None) -> RetryOutcome:
    """Queue dead letters again (``ids``, or every one for None)."""
    db = Database(url)
    now = (clock or SystemClock()).now()
    try:
        async with db.uow() as uow:
            retried = await uow.outbox.revive_many(ids, now=now)
            await uow.commit()
        refused: dict[int, str] = {}
        left = sorted(set(ids or ()) - set(retried))
        if left:
            async with db.reads() as uow:
                found = await uow.outbox.statuses(left)
            refused = {row_id: found.get(row_id, "no such row") for row_id in left}
    finally:
        await db.dispose()
    return RetryOutcome(retried=retried, refused=refused)


def report_retry(outcome: RetryOutcome, *, say: Say, complain: Say) -> int:
    """Print what was queued and what was left alone; the exit status (1 if any was)."""
    for row_id in outcome.retried:
        say(f"queued again: {row_id}")
    for row_id, status in outcome.refused.items():
        why = status if status == "no such row" else f"it is {status}, not a dead letter"
        complain(f"left alone: {row_id} ({why})")
    if not outcome.retried and not outcome.refused:
        say("no dead letters")
    return 1 if outcome.refused else 0
