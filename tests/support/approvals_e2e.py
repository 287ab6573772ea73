"""The running app set up for refund approvals: an approval channel, approvers (one of them
through a user group), backup approvers, an agent callback stand-in, and payments either
local (a LocalPayments the test can read) or at the spec-checked Stripe stand-in.

Tests drive it only through signed requests: the agent's webhook and GET, and Slack
clicks and modal submissions.
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.approvals.actions import ApprovalAction, ApprovalBlock, ApprovalModal
from bot.clock import FakeClock
from bot.demo import slack_requests
from bot.demo.chatbot_standin import ChatbotStandIn
from bot.demo.slack_standin import SlackStandIn
from integrations.payments.local import LocalPayments
from integrations.payments.protocol import Payments
from integrations.signing import signed_headers
from tests.support.harness import (
    AGENT,
    WEBHOOK_SECRET,
    Harness,
    running,
    standins,
)
from tests.support.stripe_standin import API_KEY, StripeStandIn

APPROVAL_CHANNEL = "C0APPROVAL"
APPROVER = ("U0APPROVE1", "ana.approver")
SECOND_APPROVER = ("U0APPROVE2", "ben.approver")
GROUP_APPROVER = ("U0APPROVE3", "cy.in.group")  # an approver through the user group
APPROVER_GROUP = "S0APPROVERS"
BACKUP = ("U0BACKUP01", "dee.backup")
NOT_APPROVER = AGENT
PAYMENT = "pi_3OaBcDeFgHiJkLmN"
PAYMENT_AMOUNT = 5000

REQUEST: dict[str, Any] = {
    "request_id": "apr-1",
    "action": "refund",
    "requested_by": "billing-agent",
    "customer": {"id": "c-9", "email": "ada@example.com"},
    "params": {
        "payment_id": PAYMENT,
        "amount_minor": 1250,
        "currency": "usd",
        "reason": "duplicate",
    },
    "justification": "The customer was charged twice for the March invoice.",
}


def refund_request(**overrides: Any) -> dict[str, Any]:
    """The sample request; ``params`` overrides merge into its params."""
    body = copy.deepcopy(REQUEST)
    params = overrides.pop("params", {})
    body.update(overrides)
    body["params"].update(params)
    return body


class ApprovalHarness:
    def __init__(
        self,
        desk: Harness,
        agent: ChatbotStandIn,
        *,
        local: LocalPayments | None,
        stripe: StripeStandIn | None,
    ) -> None:
        self.desk, self.agent, self.local, self.stripe = desk, agent, local, stripe
        self.app, self.slack, self.clock = desk.app, desk.slack, desk.clock

    async def ask(self, **overrides: Any) -> tuple[int, Any]:
        return await self.desk.webhook("/webhooks/approvals", refund_request(**overrides))

    async def poll(
        self, request_id: str = "apr-1", *, secret: str = WEBHOOK_SECRET
    ) -> tuple[int, Any]:
        headers = signed_headers(secret, b"", now=self.clock.now().timestamp())
        async with self.desk.http.get(
            self.desk.url(f"/api/approvals/{request_id}"), headers=headers
        ) as response:
            return response.status, await response.json(content_type=None)

    def message(self, request_id: str = "apr-1") -> dict[str, Any] | None:
        """The approval's message as Slack holds it now (found by its buttons' value or
        its request id in the text)."""
        for message in self.slack.messages(APPROVAL_CHANNEL):
            if request_id in json.dumps(message.get("blocks") or []):
                return message
        return None

    def thread(self, request_id: str = "apr-1") -> list[dict[str, Any]]:
        message = self.message(request_id)
        if message is None:
            return []
        return self.slack.replies(APPROVAL_CHANNEL, message["ts"])

    def buttons(self, request_id: str = "apr-1") -> list[str]:
        message = self.message(request_id) or {}
        return [
            element["action_id"]
            for block in message.get("blocks") or []
            if block.get("type") == "actions"
            for element in block["elements"]
        ]

    async def click(
        self, action: ApprovalAction, user: tuple[str, str], request_id: str = "apr-1"
    ) -> int:
        message = self.message(request_id)
        body = slack_requests.block_action(
            action_id=action.value,
            value=request_id,
            user_id=user[0],
            user_name=user[1],
            channel=APPROVAL_CHANNEL,
            message_ts=message["ts"] if message else "1.1",
            block_id=ApprovalBlock.ACTIONS.value,
        )
        status = (await self.desk.slack_request(body, "application/x-www-form-urlencoded")).status
        await self.app.after_ack.join()
        return status

    def opened_modal(self, callback_id: ApprovalModal) -> dict[str, Any] | None:
        """The last modal deskhand opened with ``callback_id``."""
        for call in reversed(self.slack.calls_to("views.open")):
            view = call.args.get("view") or {}
            if view.get("callback_id") == callback_id.value:
                return dict(view)
        return None

    async def submit(
        self,
        callback_id: ApprovalModal,
        user: tuple[str, str],
        values: dict[ApprovalBlock, str],
    ) -> dict[str, Any]:
        """Submit the last opened modal of ``callback_id``; Slack's answer body ({} if empty)."""
        view = self.opened_modal(callback_id)
        assert view is not None, f"no {callback_id} modal was opened"
        body = slack_requests.view_submission(
            callback_id=callback_id.value,
            values={block.value: text for block, text in values.items()},
            private_metadata=view["private_metadata"],
            user_id=user[0],
            user_name=user[1],
        )
        # Over HTTP or the socket, whichever mode the harness runs in.
        answer = await self.desk.slack_request(body, "application/x-www-form-urlencoded")
        assert answer.status == 200, answer.status
        await self.app.after_ack.join()
        return json.loads(answer.text) if answer.text.strip() else {}

    def decisions(self, request_id: str = "apr-1") -> list[dict[str, Any]]:
        """approval_decision callbacks the agent received (each once), in order."""
        return self.agent.of_type("approval_decision", request_id=request_id)

    def statuses(self, request_id: str = "apr-1") -> list[str]:
        return [d["status"] for d in self.decisions(request_id)]

    def refusals_to(self, user: tuple[str, str]) -> list[str]:
        return [e.get("text", "") for e in self.slack.ephemerals(APPROVAL_CHANNEL, user[0])]


@asynccontextmanager
async def approval_desk(
    database_url: str,
    *,
    payments: str = "local",
    clock: FakeClock | None = None,
    shared: Shared | None = None,
    payments_impl: Payments | None = None,
    **extra: Any,
) -> AsyncIterator[ApprovalHarness]:
    """``shared``: stand-ins from ``approval_standins`` that outlive this app (a restart);
    ``payments_impl``: the Payments to use instead of the one the settings build."""
    clock = clock or FakeClock(datetime.now(UTC).replace(microsecond=0))
    async with AsyncExitStack() as stack:
        if shared is None:
            shared = await stack.enter_async_context(approval_standins(clock, payments))
        settings: dict[str, Any] = {
            "DESKHAND_APPROVAL_CHANNEL": APPROVAL_CHANNEL,
            "DESKHAND_APPROVERS": f"{APPROVER[0]},{SECOND_APPROVER[0]},{APPROVER_GROUP}",
            "DESKHAND_AGENT_CALLBACK_URL": shared.agent.url,
        }
        if shared.stripe is not None:
            settings |= {
                "DESKHAND_PAYMENTS": "stripe",
                "STRIPE_API_URL": shared.stripe.url,
                "STRIPE_API_KEY": API_KEY,
            }
        settings |= extra
        async with running(
            database_url,
            clock=clock,
            slack=shared.slack,
            chatbot=shared.chatbot,
            payments=payments_impl or shared.local,
            **settings,
        ) as desk:
            await desk.app.permissions.refresh(desk.app.directory)
            yield ApprovalHarness(desk, shared.agent, local=shared.local, stripe=shared.stripe)
            assert desk.slack.violations == [], desk.slack.violations
            if shared.stripe is not None:
                assert shared.stripe.violations == [], shared.stripe.violations


@dataclass
class Shared:
    slack: SlackStandIn
    chatbot: ChatbotStandIn
    agent: ChatbotStandIn
    stripe: StripeStandIn | None
    local: LocalPayments | None


@asynccontextmanager
async def approval_standins(clock: FakeClock, payments: str = "local") -> AsyncIterator[Shared]:
    """Slack, the chatbot, the agent and the payments, to share between app runs."""
    agent = ChatbotStandIn(secret=WEBHOOK_SECRET, now=lambda: clock.now().timestamp())
    await agent.start()
    stripe: StripeStandIn | None = None
    local: LocalPayments | None = None
    if payments == "stripe":
        stripe = StripeStandIn()
        await stripe.start()
        stripe.add_payment(PAYMENT, PAYMENT_AMOUNT, "usd")
    else:
        local = LocalPayments({PAYMENT: (PAYMENT_AMOUNT, "usd")})
    try:
        async with standins(clock) as (slack, chatbot):
            for user in (APPROVER, SECOND_APPROVER, GROUP_APPROVER, BACKUP):
                slack.add_user(user[0], user[1], user[1].title())
            slack.add_usergroup(APPROVER_GROUP, [GROUP_APPROVER[0]])
            yield Shared(slack, chatbot, agent, stripe, local)
    finally:
        if stripe is not None:
            await stripe.stop()
        await agent.stop()
