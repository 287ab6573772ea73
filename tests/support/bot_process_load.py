"""A seeded stream of what flows through deskhand: handoffs, customer messages, claim and
resolve clicks, refund requests and approve clicks, sent to running bot processes while
they are killed and restarted. Every answer is written in a ``Ledger``: what was accepted
(2xx) is what the checks then demand (``tests.support.bot_process_checks``).

Clicks are sent only for buttons the message at the Slack stand-in offers now, as a
person would. A click that was acked is never sent again: whether it was lost in a crash
must stay visible. A webhook without an answer (the process was down or died under it) is
sent again until one comes, as the chatbot and the agent do.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.approvals.actions import ApprovalAction
from bot.handoffs.actions import HandoffAction
from tests.support.approvals_e2e import refund_request
from tests.support.bot_process import BotProcess
from tests.support.bot_process_world import AGENTS, APPROVERS, Client, World, buttons
from tests.support.harness_data import handoff_payload

User = tuple[str, str]


@dataclass
class Webhook:
    path: str
    payload: dict[str, Any]
    what: str  # "handoff", "message" or "approval"
    key: str  # handoff_id, "handoff_id/message_id" or request_id
    answered: int | None = None


@dataclass
class Ledger:
    webhooks: dict[str, Webhook] = field(default_factory=dict)  # by what:key
    claims: dict[str, User] = field(default_factory=dict)  # acked claim clicks
    resolves: dict[str, User] = field(default_factory=dict)
    approves: dict[str, User] = field(default_factory=dict)
    requests: int = 0
    unanswered: int = 0
    server_errors: list[str] = field(default_factory=list)  # any 5xx: a defect here
    refusals: list[str] = field(default_factory=list)  # 4xx answers, for the checks
    acks: int = 0  # clicks acked so far (the killer waits on it)

    def accepted(self, what: str) -> list[Webhook]:
        return [
            w
            for w in self.webhooks.values()
            if w.what == what and w.answered is not None and 200 <= w.answered < 300
        ]

    def approval_requests(self) -> list[Webhook]:
        return [w for w in self.webhooks.values() if w.what == "approval"]

    def unsent(self) -> list[Webhook]:
        return [w for w in self.webhooks.values() if w.answered is None]


class Load:
    """Sends the stream; ``bots`` is a callable so a caller may change who is up."""

    def __init__(
        self,
        world: World,
        client: Client,
        bots: Callable[[], Sequence[BotProcess]],
        *,
        rng: random.Random,
        tag: str,
        max_open: int = 12,
    ) -> None:
        self.world, self.client, self._bots, self.rng, self.tag = world, client, bots, rng, tag
        self.max_open = max_open  # unclaimed handoffs at most (half as many approvals)
        self.ledger = Ledger()
        self._handoffs = 0
        self._approvals = 0
        self._progress = asyncio.Condition()  # notified on every 2xx
        self._busy: set[str] = set()  # buttons being clicked now (one click each)

    # -- the stream --------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, workers: int = 3) -> None:
        async def worker() -> None:
            while not stop.is_set():
                unanswered = self.ledger.unanswered
                await self.step()
                # A load pattern: a short pause, longer while the process is down.
                pause = (0.1, 0.3) if self.ledger.unanswered > unanswered else (0.02, 0.12)
                await asyncio.sleep(self.rng.uniform(*pause))

        await asyncio.gather(*(worker() for _ in range(workers)))

    async def step(self) -> None:
        unsent = self.ledger.unsent()
        if unsent and self.rng.random() < 0.5:
            await self._send(self.rng.choice(unsent))
            return
        choices: list[tuple[float, Callable[[], Any]]] = [
            (3, self._new_handoff),
            (2, self._customer_message),
            (3, self._claim),
            (2, self._resolve),
            (1, self._new_approval),
            (2, self._approve),
        ]
        act = self.rng.choices([c for _, c in choices], [w for w, _ in choices])[0]
        await act()

    async def finish(self, within: float = 60.0) -> None:
        """Send every webhook still without an answer until it has one."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while unsent := self.ledger.unsent():
            if loop.time() > deadline:
                raise AssertionError(f"{len(unsent)} webhooks never answered")
            await asyncio.gather(*(self._send(w) for w in unsent))

    async def next_ack(self, within: float = 20.0) -> bool:
        """Wait for the next acked click; False if none came in time."""
        seen = self.ledger.acks
        return await self._progress_until(lambda: self.ledger.acks > seen, within)

    async def accepted_more(self, count: int, within: float = 20.0) -> bool:
        """Wait until ``count`` more requests were answered 2xx (any kind)."""
        start = self._answered_ok()
        return await self._progress_until(lambda: self._answered_ok() >= start + count, within)

    def counts(self) -> Counter[str]:
        """How many of each kind were accepted or acked so far."""
        counts = Counter(w.what for w in self.ledger.webhooks.values() if w.answered in (200, 202))
        counts.update(claim=len(self.ledger.claims), resolve=len(self.ledger.resolves))
        counts.update(approve=len(self.ledger.approves))
        return counts

    async def each_kind_since(self, mark: Counter[str], within: float = 60.0) -> bool:
        """Wait until every kind of request was accepted again since ``mark``."""
        kinds = ("handoff", "message", "approval", "claim", "resolve", "approve")
        return await self._progress_until(
            lambda: all(self.counts()[k] > mark[k] for k in kinds), within
        )

    async def _progress_until(self, done: Callable[[], bool], within: float) -> bool:
        async with self._progress:
            try:
                await asyncio.wait_for(self._progress.wait_for(done), within)
            except TimeoutError:
                return False
        return True

    async def _made_progress(self) -> None:
        async with self._progress:
            self._progress.notify_all()

    # -- actions -----------------------------------------------------------------------

    async def _new_handoff(self) -> None:
        # At most max_open waiting for a claim (one lost in a kill waits forever).
        unclaimed = [h for h in self._open_handoffs() if h not in self.ledger.claims]
        if len(unclaimed) >= self.max_open:
            return
        self._handoffs += 1
        handoff_id = f"{self.tag}-h{self._handoffs:05d}"
        payload = handoff_payload(handoff_id=handoff_id, session_id=f"s-{handoff_id}")
        await self._send(self._add(Webhook("/webhooks/handoffs", payload, "handoff", handoff_id)))

    async def _customer_message(self) -> None:
        open_ = self._open_handoffs()
        if not open_:
            return
        handoff_id = self.rng.choice(open_)
        message_id = f"m{len(self.ledger.webhooks):06d}"
        payload = {"message_id": message_id, "text": f"customer writes {handoff_id}/{message_id}"}
        path = f"/webhooks/handoffs/{handoff_id}/messages"
        await self._send(self._add(Webhook(path, payload, "message", f"{handoff_id}/{message_id}")))

    async def _new_approval(self) -> None:
        undecided = [
            w for w in self.ledger.approval_requests() if w.key not in self.ledger.approves
        ]
        if len(undecided) >= self.max_open // 2:
            return
        self._approvals += 1
        request_id = f"{self.tag}-r{self._approvals:05d}"
        payment = f"pi_{self.tag.replace('-', '')}{self._approvals:05d}"
        self.world.add_payment(payment)
        payload = refund_request(
            request_id=request_id, params={"payment_id": payment, "amount_minor": 1250}
        )
        await self._send(self._add(Webhook("/webhooks/approvals", payload, "approval", request_id)))

    async def _claim(self) -> None:
        handoff_id = self._offering(HandoffAction.CLAIM, self.ledger.claims, approval=False)
        if handoff_id is not None:
            user = self.rng.choice(AGENTS)
            await self._click(HandoffAction.CLAIM, handoff_id, user, self.ledger.claims)

    async def _resolve(self) -> None:
        claimed = {h: u for h, u in self.ledger.claims.items() if h not in self.ledger.resolves}
        for handoff_id in self.rng.sample(sorted(claimed), len(claimed)):
            if HandoffAction.RESOLVE in buttons(self.world.handoff_message(handoff_id)):
                user = claimed[handoff_id]  # the claimer resolves (anyone else is refused)
                await self._click(HandoffAction.RESOLVE, handoff_id, user, self.ledger.resolves)
                return

    async def _approve(self) -> None:
        request_id = self._offering(ApprovalAction.APPROVE, self.ledger.approves, approval=True)
        if request_id is not None:
            user = self.rng.choice(APPROVERS)
            await self._click(ApprovalAction.APPROVE, request_id, user, self.ledger.approves)

    # -- sending -----------------------------------------------------------------------

    def _offering(self, action: str, acked: dict[str, User], *, approval: bool) -> str | None:
        what = "approval" if approval else "handoff"
        candidates = [
            w.key
            for w in self.ledger.accepted(what)
            if w.key not in acked and f"{action}:{w.key}" not in self._busy
        ]
        self.rng.shuffle(candidates)
        for key in candidates:
            message = (
                self.world.approval_message(key) if approval else self.world.handoff_message(key)
            )
            if action in buttons(message):
                return key
        return None

    async def _click(self, action: str, key: str, user: User, acked: dict[str, User]) -> None:
        approval = action.startswith("approval")
        message = self.world.approval_message(key) if approval else self.world.handoff_message(key)
        self._busy.add(f"{action}:{key}")
        try:
            status = await self.client.click(
                self._bot(), action, key, user, message=message, approval=approval
            )
        finally:
            self._busy.discard(f"{action}:{key}")
        self._count(status, f"click {action} {key}")
        if status == 200:
            acked[key] = user
            self.ledger.acks += 1
            await self._made_progress()

    def _add(self, webhook: Webhook) -> Webhook:
        self.ledger.webhooks[f"{webhook.what}:{webhook.key}"] = webhook
        return webhook

    async def _send(self, webhook: Webhook) -> None:
        status, body = await self.client.webhook(self._bot(), webhook.path, webhook.payload)
        self._count(status, f"{webhook.what} {webhook.key}: {body}")
        if status is not None and status < 500:
            webhook.answered = status
            await self._made_progress()

    def _count(self, status: int | None, what: str) -> None:
        self.ledger.requests += 1
        if status is None:
            self.ledger.unanswered += 1
        elif status >= 500:
            self.ledger.server_errors.append(f"{status} {what}")
        elif status >= 400:
            self.ledger.refusals.append(f"{status} {what}")

    def _open_handoffs(self) -> list[str]:
        return [w.key for w in self.ledger.accepted("handoff") if w.key not in self.ledger.resolves]

    def _bot(self) -> BotProcess:
        bots = self._bots()
        return self.rng.choice(list(bots))

    def _answered_ok(self) -> int:
        webhooks = sum(1 for w in self.ledger.webhooks.values() if w.answered in (200, 202))
        return webhooks + self.ledger.acks
