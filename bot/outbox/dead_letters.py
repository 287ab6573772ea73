"""What happens when a delivery becomes a dead letter, in the transaction that marks it.

Hooks are registered per kind by the modules that own the kind (a refund's approval
becomes `failed`, bot/approvals/execution.py) and for every kind (the Slack alert below):
the dispatcher runs them with the row's mark_dead, so either all of it is stored or none.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.outbox.kinds import ALERT_KINDS, OutboxKind
from storage.outbox import OutboxMessage
from storage.uow import UnitOfWork

# At most this many alerts, one per dead letter, in each window; past them one summary
# for the window, so an outage that kills a thousand rows does not post a thousand alerts.
ALERT_WINDOW = timedelta(minutes=10)
ALERTS_PER_WINDOW = 5


@dataclass(frozen=True)
class DeadLetterCause:
    error: str
    # True: it failed transiently for the whole give-up window; False: it was refused.
    gave_up: bool
    at: datetime


DeadLetterHook = Callable[[UnitOfWork, OutboxMessage, DeadLetterCause], Awaitable[None]]


class DeadLetterHooks:
    def __init__(
        self,
        by_kind: Mapping[str, DeadLetterHook] | None = None,
        *,
        every: tuple[DeadLetterHook, ...] = (),
    ) -> None:
        self._by_kind: dict[str, list[DeadLetterHook]] = {}
        self._every = list(every)
        for kind, hook in (by_kind or {}).items():
            self.on(kind, hook)

    def on(self, kind: str, hook: DeadLetterHook) -> None:
        self._by_kind.setdefault(kind, []).append(hook)

    def on_every(self, hook: DeadLetterHook) -> None:
        self._every.append(hook)

    async def run(self, uow: UnitOfWork, message: OutboxMessage, cause: DeadLetterCause) -> None:
        for hook in [*self._by_kind.get(message.kind, []), *self._every]:
            await hook(uow, message, cause)


def _window_start(at: datetime) -> datetime:
    seconds = ALERT_WINDOW.total_seconds()
    return datetime.fromtimestamp(at.timestamp() // seconds * seconds, tz=at.tzinfo)


async def queue_alert(uow: UnitOfWork, message: OutboxMessage, cause: DeadLetterCause) -> None:
    """Queue the Slack alert about a dead letter: it goes out when Slack is reachable,
    as any other row. An alert that dead-letters itself raises none (no recursion)."""
    if message.kind in ALERT_KINDS:
        return
    kind = OutboxKind.SLACK_DEAD_LETTER_ALERT
    since = _window_start(cause.at)
    if await uow.outbox.count_queued(kind, since=since) < ALERTS_PER_WINDOW:
        await uow.outbox.add(
            kind,
            {
                "outbox_id": message.id,
                "kind": message.kind,
                "key": message.idempotency_key,
                "attempts": message.attempts,
                "first_due_at": message.first_due_at.isoformat(),
                "error": cause.error[:500],
                "gave_up": cause.gave_up,
                "at": cause.at.isoformat(),
            },
            # Attempts only grow (an operator's retry keeps them): a row that dies again
            # after a retry is alerted again.
            key=f"dead-alert:{message.id}:{message.attempts}",
            now=cause.at,
        )
        return
    # The window's summary counts the dead letters when it is posted (one per window).
    await uow.outbox.add(
        kind,
        {"since": since.isoformat()},
        key=f"dead-alert:since:{since.isoformat()}",
        now=cause.at,
    )
