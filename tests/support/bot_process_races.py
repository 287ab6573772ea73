"""Races between bot replicas on one PostgreSQL: the same thing asked of two replicas at
once, which must have exactly one winner. Each race sets itself up (a posted handoff or
approval), fires both sides together, and returns a judge that is called once everything
has drained: the judge reads the stand-ins and the database and returns the problems.

Used by tests/e2e/test_replicas.py (about fifty races) and bench/replica_races.py (1,000).
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from bot.approvals.actions import ApprovalAction, ApprovalBlock, ApprovalModal
from bot.handoffs.actions import HandoffAction
from tests.support.approvals_e2e import refund_request
from tests.support.bot_process import BotProcess
from tests.support.bot_process_checks import Store, claim_announcements
from tests.support.bot_process_world import (
    AGENTS,
    APPROVERS,
    CHANNEL,
    Client,
    World,
    buttons,
)
from tests.support.harness_data import handoff_payload

Judge = Callable[[], Awaitable[list[str]]]


async def eventually(
    predicate: Callable[[], bool],
    what: str,
    within: float = 30.0,
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.05)


@dataclass
class Races:
    world: World
    client: Client
    bots: Sequence[BotProcess]
    store: Store
    rng: random.Random
    tag: str = "race"

    def two_replicas(self) -> tuple[BotProcess, BotProcess]:
        first, second = self.rng.sample(list(self.bots), 2)
        return first, second

    # -- set-ups -----------------------------------------------------------------------

    async def posted_handoff(self, handoff_id: str) -> str:
        payload = handoff_payload(handoff_id=handoff_id, session_id=f"s-{handoff_id}")
        status, body = await self.client.webhook(
            self.rng.choice(list(self.bots)), "/webhooks/handoffs", payload
        )
        assert status == 202, (status, body)
        await eventually(
            lambda: HandoffAction.CLAIM in buttons(self.world.handoff_message(handoff_id)),
            f"{handoff_id} posted",
        )
        return str(body["reference"])

    async def posted_approval(self, request_id: str) -> str:
        payment = f"pi_{request_id.replace('-', '')}"
        self.world.add_payment(payment)
        payload = refund_request(
            request_id=request_id, params={"payment_id": payment, "amount_minor": 1250}
        )
        status, body = await self.client.webhook(
            self.rng.choice(list(self.bots)), "/webhooks/approvals", payload
        )
        assert status == 202, (status, body)
        await eventually(
            lambda: ApprovalAction.APPROVE in buttons(self.world.approval_message(request_id)),
            f"{request_id} posted",
        )
        return payment

    # -- the races ---------------------------------------------------------------------

    async def claim_vs_claim(self, n: int) -> Judge:
        handoff_id = f"{self.tag}-claim-{n}"
        reference = await self.posted_handoff(handoff_id)
        users = self.rng.sample(AGENTS, 2)
        message = self.world.handoff_message(handoff_id)
        a, b = self.two_replicas()
        statuses = await asyncio.gather(
            self.client.click(a, HandoffAction.CLAIM, handoff_id, users[0], message=message),
            self.client.click(b, HandoffAction.CLAIM, handoff_id, users[1], message=message),
        )

        async def judge() -> list[str]:
            problems = (
                [f"{handoff_id}: clicks answered {statuses}"]
                if list(statuses) != [200, 200]
                else []
            )
            status, claimed_by, _ = (await self.store.handoffs())[handoff_id]
            claimed = claim_announcements(self.world, handoff_id)
            winners = [u for u in users if u[0] == claimed_by]
            if status != "claimed" or len(winners) != 1 or len(claimed) != 1:
                problems.append(f"{handoff_id}: {status} by {claimed_by}, {len(claimed)} callbacks")
                return problems
            loser = next(u for u in users if u[0] != claimed_by)
            told = [
                e for e in self.world.slack.ephemerals(CHANNEL, loser[0]) if reference in e["text"]
            ]
            if len(told) != 1 or claimed[0]["agent"]["id"] != claimed_by:
                problems.append(f"{handoff_id}: loser told {len(told)} times")
            return problems

        return judge

    async def approve_vs_approve(self, n: int) -> Judge:
        request_id = f"{self.tag}-aa-{n}"
        payment = await self.posted_approval(request_id)
        message = self.world.approval_message(request_id)
        a, b = self.two_replicas()
        statuses = await asyncio.gather(
            *(
                self.client.click(
                    bot, ApprovalAction.APPROVE, request_id, user, message=message, approval=True
                )
                for bot, user in zip((a, b), APPROVERS, strict=True)
            )
        )
        return self._approval_judge(request_id, payment, statuses, {"executed"})

    async def approve_vs_reject(self, n: int) -> Judge:
        request_id = f"{self.tag}-ar-{n}"
        payment = await self.posted_approval(request_id)
        message = self.world.approval_message(request_id)
        approver, rejecter = self.rng.sample(APPROVERS, 2)
        a, b = self.two_replicas()
        opened = await self.client.click(
            b, ApprovalAction.REJECT, request_id, rejecter, message=message, approval=True
        )
        assert opened == 200, opened
        await eventually(lambda: self._reject_form(request_id) is not None, "the reject modal")
        metadata = self._reject_form(request_id)
        assert metadata is not None
        statuses = await asyncio.gather(
            self.client.click(
                a, ApprovalAction.APPROVE, request_id, approver, message=message, approval=True
            ),
            self.client.submit(
                b,
                ApprovalModal.REJECT.value,
                {ApprovalBlock.REASON.value: "Not a duplicate: two separate orders."},
                metadata,
                rejecter,
            ),
        )
        return self._approval_judge(request_id, payment, statuses, {"executed", "rejected"})

    async def same_handoff_twice(self, n: int) -> Judge:
        handoff_id = f"{self.tag}-twice-{n}"
        payload = handoff_payload(handoff_id=handoff_id, session_id=f"s-{handoff_id}")
        answers = await asyncio.gather(
            *(
                self.client.webhook(bot, "/webhooks/handoffs", payload)
                for bot in self.two_replicas()
            )
        )

        async def judge() -> list[str]:
            problems = []
            if sorted(s for s, _ in answers) != [200, 202]:  # type: ignore[type-var]
                problems.append(f"{handoff_id}: answered {[s for s, _ in answers]}")
            if len({json.dumps(body, sort_keys=True) for _, body in answers}) != 1:
                problems.append(f"{handoff_id}: two different answers {answers}")
            if self.world.handoff_message(handoff_id) is None:
                problems.append(f"{handoff_id}: never posted")
            tickets = [t for t in self.world.tickets.tickets() if t.handoff_id == handoff_id]
            if len(tickets) != 1:
                problems.append(f"{handoff_id}: {len(tickets)} tickets")
            return problems

        return judge

    async def left_to_expire(self, n: int) -> Judge:
        """Nobody decides: every replica's expiry job finds it due; it expires once."""
        request_id = f"{self.tag}-expire-{n}"
        payment = await self.posted_approval(request_id)
        outcome = self._approval_judge(request_id, payment, [200, 200], {"expired"})

        async def judge() -> list[str]:
            problems = await outcome()
            expired = (await self.store.approval_events("expired"))[request_id]
            if expired != 1:
                problems.append(f"{request_id}: expired {expired} times in the audit trail")
            return problems

        return judge

    # -- judging -----------------------------------------------------------------------

    def _reject_form(self, request_id: str) -> str | None:
        for call in self.world.slack.calls_to("views.open"):
            view = call.args.get("view") or {}
            metadata = str(view.get("private_metadata") or "")
            if view.get("callback_id") == ApprovalModal.REJECT and request_id in metadata:
                return metadata
        return None

    def _approval_judge(
        self, request_id: str, payment: str, statuses: Sequence[int | None], allowed: set[str]
    ) -> Judge:
        heard_for = {
            "executed": ["approved", "executed"],
            "rejected": ["rejected"],
            "expired": ["expired"],
        }

        async def judge() -> list[str]:
            problems = (
                [f"{request_id}: answered {statuses}"] if list(statuses) != [200, 200] else []
            )
            status = (await self.store.approvals()).get(request_id, "missing")
            heard = [
                d["status"]
                for d in self.world.agent.of_type("approval_decision", request_id=request_id)
            ]
            refunds = [r for r in self.world.stripe.refunds if r["payment_intent"] == payment]
            if status not in allowed:
                return [*problems, f"{request_id}: {status}, not one of {sorted(allowed)}"]
            if Counter(heard) != Counter(heard_for[status]):
                problems.append(f"{request_id} {status}: the agent heard {heard}")
            if len(refunds) != int(status == "executed"):
                problems.append(f"{request_id} {status}: {len(refunds)} refunds")
            return problems

        return judge
