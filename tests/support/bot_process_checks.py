"""What must hold once bot processes have drained, read at the stand-ins and in the
database: every accepted request reached its end state, nothing happened twice, and a click
acked just before a kill either took effect or left its button on the message.

``check`` returns a ``Verdict`` (figures and problems) rather than asserting, so the
soak scripts in bench/ print the same figures the tests assert on.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from bot.approvals.actions import ApprovalAction
from bot.handoffs.actions import HandoffAction
from storage.models import Approval, ApprovalEvent, Handoff, OutboxRow
from tests.support.bot_process_load import Ledger
from tests.support.bot_process_world import APPROVAL_CHANNEL, CHANNEL, World, buttons


class Store:
    """Reads the bots' database from the test process (its own short-lived connections)."""

    def __init__(self, database_url: str) -> None:
        self._engine = create_async_engine(database_url, poolclass=NullPool)

    async def outbox(self) -> Counter[str]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(OutboxRow.status, func.count()).group_by(OutboxRow.status)
            )
            return Counter({status: int(n) for status, n in rows.all()})

    async def handoffs(self) -> dict[str, tuple[str, str | None, str | None]]:
        """handoff_id -> (status, claimed_by, ticket_id)."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(Handoff.handoff_id, Handoff.status, Handoff.claimed_by, Handoff.ticket_id)
            )
            return {h: (s, c, t) for h, s, c, t in rows.all()}

    async def approvals(self) -> dict[str, str]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(select(Approval.request_id, Approval.status))
            return dict(rows.all())

    async def approval_events(self, kind: str) -> Counter[str]:
        """request_id -> how many audit events of ``kind`` it has."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(Approval.request_id, func.count())
                .join(ApprovalEvent, ApprovalEvent.approval_pk == Approval.id)
                .where(ApprovalEvent.kind == kind)
                .group_by(Approval.request_id)
            )
            return Counter({request_id: int(n) for request_id, n in rows.all()})

    async def drained(self, within: float = 60.0) -> Counter[str]:
        """Poll until no outbox row is pending; the last counts."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while (counts := await self.outbox())["pending"]:
            if loop.time() > deadline:
                raise AssertionError(f"the outbox did not drain in {within}s: {dict(counts)}")
            await asyncio.sleep(0.1)
        return counts

    async def dispose(self) -> None:
        await self._engine.dispose()


@dataclass
class Verdict:
    figures: dict[str, int] = field(default_factory=dict)
    lost: list[str] = field(default_factory=list)
    doubled: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        return self.lost + self.doubled + self.other


async def check(world: World, store: Store, ledger: Ledger) -> Verdict:
    """Every accepted request reached its end state, and nothing happened twice."""
    verdict = await nothing_twice(world, store)
    handoffs = await store.handoffs()
    approvals = await store.approvals()
    _handoff_outcomes(world, ledger, handoffs, verdict)
    _message_outcomes(world, ledger, verdict)
    _click_outcomes(world, ledger, handoffs, approvals, verdict)
    _approval_outcomes(world, ledger, approvals, verdict)
    verdict.other += [f"5xx: {e}" for e in ledger.server_errors]
    verdict.other += [f"refused: {r}" for r in ledger.refusals if not r.startswith("409 message")]
    verdict.figures |= {
        "requests": ledger.requests,
        "unanswered (process down)": ledger.unanswered,
        "5xx": len(ledger.server_errors),
        "lost": len(verdict.lost),
        "doubled": len(verdict.doubled),
    }
    return verdict


async def nothing_twice(world: World, store: Store) -> Verdict:
    """What holds whatever the load: one Slack message per marker, one ticket per
    handoff, one refund per payment, no dead letter, no contract violation."""
    verdict = Verdict()
    _one_message_per_marker(world, verdict)
    _same_thing_twice(world, verdict)
    tickets = Counter(t.handoff_id for t in world.tickets.tickets())
    verdict.doubled += [f"handoff {h}: {n} tickets" for h, n in tickets.items() if n > 1]
    refunds = Counter(r["payment_intent"] for r in world.stripe.refunds)
    verdict.doubled += [f"payment {p}: {n} refunds" for p, n in refunds.items() if n > 1]
    outbox = await store.outbox()
    if outbox["dead"]:
        verdict.other.append(f"{outbox['dead']} outbox rows are dead letters")
    verdict.other += [f"Slack spec: {v}" for v in world.slack.violations]
    verdict.other += [f"Stripe spec: {v}" for v in world.stripe.violations]
    verdict.other += [f"ticketing contract: {v}" for v in world.tickets.violations]
    verdict.figures["tickets"] = len(world.tickets.tickets())
    verdict.figures["refunds"] = len(world.stripe.refunds)
    return verdict


def _handoff_outcomes(
    world: World,
    ledger: Ledger,
    handoffs: dict[str, tuple[str, str | None, str | None]],
    verdict: Verdict,
) -> None:
    tickets = Counter(t.handoff_id for t in world.tickets.tickets())
    ticket_ids = {t.handoff_id: t.id for t in world.tickets.tickets()}
    accepted = ledger.accepted("handoff")
    verdict.figures["handoffs accepted"] = len(accepted)
    for webhook in accepted:
        handoff_id = webhook.key
        if handoff_id not in handoffs:
            verdict.lost.append(f"handoff {handoff_id} accepted but not stored")
            continue
        if world.handoff_message(handoff_id) is None:
            verdict.lost.append(f"handoff {handoff_id} never posted")
        if tickets[handoff_id] != 1:
            where = verdict.lost if tickets[handoff_id] == 0 else verdict.doubled
            where.append(f"handoff {handoff_id}: {tickets[handoff_id]} tickets")
        elif handoffs[handoff_id][2] != ticket_ids[handoff_id]:
            verdict.other.append(f"handoff {handoff_id}: ticket id not stored")
        if not world.chatbot.of_type("handoff_status", handoff_id=handoff_id, status="queued"):
            verdict.lost.append(f"handoff {handoff_id}: the chatbot never heard 'queued'")
    stray = set(handoffs) - {w.key for w in accepted}
    if stray:
        verdict.other.append(f"stored but never accepted: {sorted(stray)}")


def _message_outcomes(world: World, ledger: Ledger, verdict: Verdict) -> None:
    accepted = ledger.accepted("message")
    verdict.figures["customer messages accepted"] = len(accepted)
    for webhook in accepted:
        handoff_id, message_id = webhook.key.split("/")
        thread = world.thread(CHANNEL, world.handoff_message(handoff_id))
        shown = sum(f"{handoff_id}/{message_id}" in json.dumps(m) for m in thread)
        if shown != 1:
            where = verdict.lost if shown == 0 else verdict.doubled
            where.append(f"customer message {webhook.key} shown {shown} times in the thread")


def _click_outcomes(
    world: World,
    ledger: Ledger,
    handoffs: dict[str, tuple[str, str | None, str | None]],
    approvals: dict[str, str],
    verdict: Verdict,
) -> None:
    """An acked click either took effect, or the message still offers its button (the
    person clicks again: docs/architecture.md, "The ack path")."""
    still_offered = 0
    for handoff_id in ledger.claims:
        status = handoffs.get(handoff_id, ("missing", None, None))[0]
        if status in ("claimed", "resolved"):
            _once(
                claim_announcements(world, handoff_id),
                f"'claimed' callbacks of {handoff_id}",
                verdict,
            )
        elif HandoffAction.CLAIM in buttons(world.handoff_message(handoff_id)):
            still_offered += 1
        else:
            verdict.lost.append(f"claim of {handoff_id} acked, not applied, button gone")
    for handoff_id in ledger.resolves:
        status = handoffs.get(handoff_id, ("missing", None, None))[0]
        if status == "resolved":
            # At least once; a later one may bring a ticket made after the resolution,
            # and two telling the same are caught by _same_thing_twice.
            if not status_callbacks(world, handoff_id, "resolved"):
                verdict.lost.append(f"{handoff_id}: the chatbot never heard 'resolved'")
        elif HandoffAction.RESOLVE in buttons(world.handoff_message(handoff_id)):
            still_offered += 1
        else:
            verdict.lost.append(f"resolve of {handoff_id} acked, not applied, button gone")
    for request_id in ledger.approves:
        status = approvals.get(request_id, "missing")
        if status in ("approved", "executed"):
            if status != "executed":
                verdict.lost.append(f"approval {request_id} approved but never executed")
        elif ApprovalAction.APPROVE in buttons(world.approval_message(request_id)):
            still_offered += 1
        else:
            verdict.lost.append(f"approve of {request_id} acked, not applied ({status})")
    verdict.figures["clicks acked"] = (
        len(ledger.claims) + len(ledger.resolves) + len(ledger.approves)
    )
    verdict.figures["acked clicks lost in a kill, button still offered"] = still_offered


def _approval_outcomes(
    world: World, ledger: Ledger, approvals: dict[str, str], verdict: Verdict
) -> None:
    accepted = ledger.accepted("approval")
    verdict.figures["approval requests accepted"] = len(accepted)
    refunds = Counter(r["payment_intent"] for r in world.stripe.refunds)
    for webhook in accepted:
        request_id = webhook.key
        payment = webhook.payload["params"]["payment_id"]
        if request_id not in approvals:
            verdict.lost.append(f"approval {request_id} accepted but not stored")
            continue
        if world.approval_message(request_id) is None:
            verdict.lost.append(f"approval {request_id} never posted")
        statuses = [
            d["status"] for d in world.agent.of_type("approval_decision", request_id=request_id)
        ]
        executed = approvals[request_id] == "executed"
        if refunds[payment] != int(executed):
            where = verdict.doubled if refunds[payment] > 1 else verdict.lost
            where.append(
                f"approval {request_id} ({approvals[request_id]}): {refunds[payment]} refunds"
            )
        wanted = ["approved", "executed"] if executed else []
        if Counter(statuses) != Counter(wanted):
            where = verdict.doubled if len(statuses) > len(wanted) else verdict.lost
            where.append(f"approval {request_id}: agent heard {statuses}, not {wanted}")


def _one_message_per_marker(world: World, verdict: Verdict) -> None:
    """Each marker block_id (one per message deskhand means to post) is on one message."""
    markers: Counter[str] = Counter()
    for message in world.all_messages():
        for block in message.get("blocks") or []:
            block_id = str(block.get("block_id", ""))
            if block_id.startswith(("dh:", "da:")):
                markers[block_id] += 1
    verdict.doubled += [f"Slack message {m} posted {n} times" for m, n in markers.items() if n > 1]
    verdict.figures["Slack messages"] = sum(markers.values())
    for channel in (CHANNEL, APPROVAL_CHANNEL):
        verdict.figures[f"top-level posts in {channel}"] = len(world.slack.messages(channel))


def status_callbacks(world: World, handoff_id: str, status: str) -> list[dict[str, Any]]:
    return world.chatbot.of_type("handoff_status", handoff_id=handoff_id, status=status)


def claim_announcements(world: World, handoff_id: str) -> list[dict[str, Any]]:
    """The 'claimed' callbacks that say who claimed (a later one may bring the new ticket)."""
    return [c for c in status_callbacks(world, handoff_id, "claimed") if "agent" in c]


def _same_thing_twice(world: World, verdict: Verdict) -> None:
    """Two callbacks (different idempotency keys) telling the same thing: a double."""
    for standin, who in ((world.chatbot, "chatbot"), (world.agent, "agent")):
        bodies = Counter(json.dumps(c.body, sort_keys=True) for c in standin.callbacks)
        verdict.doubled += [f"{who} told {n} times: {b[:200]}" for b, n in bodies.items() if n > 1]
    verdict.figures["callbacks"] = len(world.chatbot.callbacks) + len(world.agent.callbacks)


def _once(callbacks: list[dict[str, Any]], what: str, verdict: Verdict) -> None:
    if len(callbacks) != 1:
        where = verdict.lost if not callbacks else verdict.doubled
        where.append(f"{len(callbacks)} {what}")
