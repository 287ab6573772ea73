"""The /desk command and App Home: an agent's own view of the desk."""

from __future__ import annotations

from datetime import datetime

from bot.approvals.queries import ApprovalQueries
from bot.clock import Clock
from bot.desk_command import (
    DESK_HELP,
    Approvals,
    Available,
    Away,
    DeadLetters,
    DeskCommand,
    Fallbacks,
    Help,
    ListOpen,
    ReturnToBot,
    Status,
    Unknown,
)
from bot.errors import NotFound
from bot.handoffs.lifecycle import Actor, HandoffLifecycle
from bot.outbox.kinds import OutboxKind
from bot.outbox.operator import dead_letter_mrkdwn
from bot.text import escape_mrkdwn, truncate
from storage.db import Database
from storage.fallbacks import DEAD, PENDING, FallbackEntry


class DeskService:
    def __init__(
        self,
        db: Database,
        lifecycle: HandoffLifecycle,
        *,
        clock: Clock,
        approvals: ApprovalQueries | None = None,
    ) -> None:
        self._db = db
        self._approvals = approvals
        self._lifecycle = lifecycle
        self._clock = clock

    async def run(self, command: DeskCommand, actor: Actor) -> str:
        """Carry out a /desk command; the answer is shown to the caller only."""
        match command:
            case Available():
                await self.set_available(actor.user_id, True)
                return "You are *available*: new handoffs may be assigned to you."
            case Away():
                await self.set_available(actor.user_id, False)
                return "You are *away*: no new handoffs will be assigned to you."
            case ListOpen():
                return await self.open_handoffs_text()
            case Status():
                async with self._db.uow() as uow:
                    available = await uow.agents.is_available(actor.user_id)
                    counts = await uow.handoffs.count_by_status()
                state = "available" if available else "away"
                return (
                    f"You are *{state}*. Waiting: {counts.get('queued', 0)}, "
                    f"in progress: {counts.get('claimed', 0)}."
                )
            case ReturnToBot(reference=reference):
                async with self._db.uow() as uow:
                    handoff = await uow.handoffs.get_by_reference(reference)
                if handoff is None:
                    raise NotFound(f"No handoff with reference {reference}.")
                await self._lifecycle.return_to_bot(handoff.handoff_id, actor)
                return f"{reference} is handed back to the bot."
            case Fallbacks():
                return await self.fallbacks_text()
            case DeadLetters():
                return await self.dead_letters_text()
            case Approvals(request_id=request_id):
                if self._approvals is None:
                    return "Approvals are not set up."
                if request_id is None:
                    return await self._approvals.overview()
                return await self._approvals.trail(request_id)
            case Help():
                return DESK_HELP
            case Unknown(text=text):
                return f"I don't know `/desk {text}`.\n\n{DESK_HELP}"
        return DESK_HELP

    async def set_available(self, user_id: str, available: bool) -> None:
        now = self._clock.now()
        async with self._db.uow() as uow:
            await uow.agents.set_available(user_id, available, now=now)
            await uow.outbox.add(
                OutboxKind.SLACK_HOME,
                {"user_id": user_id},
                key=f"home:{user_id}:{now.isoformat()}:{available}",
                now=now,
            )
            await uow.commit()

    async def fallbacks_text(self) -> str:
        async with self._db.uow() as uow:
            entries = await uow.fallbacks.listing(statuses=(PENDING,))
        if not entries:
            return "No ticket is on a fallback: every handoff has its ticket. :white_check_mark:"
        lines = [_fallback_line(e, self._clock.now()) for e in entries]
        return "Tickets on a fallback (newest first):\n" + "\n".join(lines)

    async def dead_letters_text(self) -> str:
        async with self._db.uow() as uow:
            tickets = await uow.fallbacks.listing(statuses=(DEAD,))
            rows = await uow.outbox.dead_letters()
        if not tickets and not rows:
            return "Nothing was given up on. :white_check_mark:"
        lines = []
        if tickets:
            lines.append("Tickets given up on (each alert in the channel has a *Retry* button):")
            lines += [_fallback_line(e, self._clock.now()) for e in tickets]
        if rows:
            lines.append("Deliveries given up on (`deskhand outbox retry ID` sends one again):")
            lines += [dead_letter_mrkdwn(r) for r in rows]
        return "\n".join(lines)

    async def open_handoffs_text(self) -> str:
        async with self._db.uow() as uow:
            handoffs = await uow.handoffs.list_open()
        if not handoffs:
            return "No open handoffs. :tada:"
        lines = []
        for h in handoffs:
            who = f"claimed by <@{h.claimed_by}>" if h.claimed_by else "waiting"
            lines.append(f"• *{h.reference}* ({h.priority}) {who}")
        return "Open handoffs:\n" + "\n".join(lines)

    async def publish_home(self, user_id: str) -> None:
        """Queue an App Home refresh (on app_home_opened)."""
        now = self._clock.now()
        async with self._db.uow() as uow:
            await uow.outbox.add(
                OutboxKind.SLACK_HOME,
                {"user_id": user_id},
                key=f"home:{user_id}:{now.isoformat()}",
                now=now,
            )
            await uow.commit()


_KIND_LABELS = {
    "offline": "ticketing system unreachable",
    "assignment": "assignment refused",
    "queue": "no agent was available",
}


def _fallback_line(entry: FallbackEntry, now: datetime) -> str:
    what = _KIND_LABELS.get(entry.kind, entry.kind)
    parts = [f"• *{entry.reference}*: {what}"]
    if entry.offline_reference and entry.kind == "offline":
        parts.append(f"offline reference {entry.offline_reference}")
    if entry.attempts:
        parts.append(f"{entry.attempts} attempt{'s' if entry.attempts != 1 else ''}")
    if entry.status == PENDING and entry.next_attempt_at is not None:
        wait = max(0, int((entry.next_attempt_at - now).total_seconds()))
        parts.append(f"next try in {wait // 60} min {wait % 60} s")
    if entry.last_error and entry.status == DEAD:
        parts.append(f"last error: {escape_mrkdwn(truncate(entry.last_error, 200))}")
    return ", ".join(parts)
