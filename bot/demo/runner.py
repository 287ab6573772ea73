"""`deskhand demo`: the whole escalation flow, locally, with no Slack credentials.

A built-in Slack stand-in and chatbot stand-in take the place of the outside world; the
bot itself is the real one, on SQLite, driven through its real HTTP endpoints.
"""

from __future__ import annotations

import json
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bot.app import create_app
from bot.approvals.actions import ApprovalAction, ApprovalBlock
from bot.clock import SystemClock
from bot.config import Settings
from bot.demo import slack_requests
from bot.demo.chatbot_standin import ChatbotStandIn
from bot.demo.slack_standin import SlackStandIn
from bot.handoffs.actions import HandoffAction
from integrations.signing import signed_headers

CHANNEL = "C0ESCALATE"
APPROVAL_CHANNEL = "C0APPROVAL"
AGENT = ("U0AGENT01", "ana")
APPROVER = ("U0LEAD001", "lee")
REFUND: dict[str, Any] = {
    "request_id": "demo-refund-1",
    "action": "refund",
    "requested_by": "billing-agent",
    "handoff_id": "demo-session-1:esc-1",
    "customer": {"id": "c-42", "email": "ada@example.com"},
    "params": {
        "payment_id": "pi_3DemoDuplicateCharge",
        "amount_minor": 4900,
        "currency": "usd",
        "reason": "duplicate",
    },
    "justification": "Two charges of USD 49.00 on the same day for one Pro plan.",
}

HANDOFF: dict[str, Any] = {
    "handoff_id": "demo-session-1:esc-1",
    "session_id": "demo-session-1",
    "customer": {"id": "c-42", "name": "Ada Lovelace", "email": "ada@example.com"},
    "reason": "missing_entitlement",
    "priority": "high",
    "summary": "Customer was charged twice for the Pro plan and wants one charge refunded.",
    "intent": "billing.refund",
    "department": "billing",
    "transcript": [
        {"role": "customer", "text": "Hi, I see two charges of $49 this month."},
        {"role": "bot", "text": "I can see both charges. Let me get a person to help."},
        {
            "role": "customer",
            "text": "My card is 4242 4242 4242 4242, password: hunter2 <!channel>",
        },
    ],
    "evidence": [
        {
            "title": "Billing policy: duplicate charges",
            "url": "https://help.example.com/dup",
            "score": 0.82,
        }
    ],
    "suggested_questions": ["Which invoice numbers do the two charges have?"],
}


class Demo:
    def __init__(self, say: Callable[[str], None]) -> None:
        self.say = say
        self.clock = SystemClock()
        self.slack_secret = secrets.token_hex(16)
        self.webhook_secret = secrets.token_hex(16)
        self.bot_token = f"xoxb-{secrets.token_hex(16)}"
        self.slack = SlackStandIn(bot_token=self.bot_token)
        self.chatbot = ChatbotStandIn(
            secret=self.webhook_secret, now=lambda: self.clock.now().timestamp()
        )
        self.agent = ChatbotStandIn(
            secret=self.webhook_secret, now=lambda: self.clock.now().timestamp()
        )
        self.base = ""

    async def run(self) -> None:
        with tempfile.TemporaryDirectory(prefix="deskhand-demo-") as tmp:
            slack_url = await self.slack.start()
            self.slack.add_user(AGENT[0], AGENT[1], "Ana Agent", "ana@example.com")
            self.slack.add_user(APPROVER[0], APPROVER[1], "Lee Lead", "lee@example.com")
            chatbot_url = await self.chatbot.start()
            agent_url = await self.agent.start()
            settings = Settings.model_validate(
                {
                    "SLACK_BOT_TOKEN": self.bot_token,
                    "SLACK_SIGNING_SECRET": self.slack_secret,
                    "SLACK_API_URL": slack_url,
                    "DESKHAND_DATABASE_URL": f"sqlite+aiosqlite:///{Path(tmp) / 'demo.db'}",
                    "DESKHAND_WEBHOOK_SECRET": self.webhook_secret,
                    "DESKHAND_ESCALATION_CHANNEL": CHANNEL,
                    "DESKHAND_CHATBOT_CALLBACK_URL": chatbot_url,
                    "DESKHAND_APPROVAL_CHANNEL": APPROVAL_CHANNEL,
                    "DESKHAND_APPROVERS": APPROVER[0],
                    "DESKHAND_AGENT_CALLBACK_URL": agent_url,
                    "DESKHAND_OUTBOX_POLL_INTERVAL": 0.5,
                }
            )
            app = create_app(settings, clock=self.clock)
            runner = web.AppRunner(app.web, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
            try:
                async with aiohttp.ClientSession() as http:
                    await self._story(http)
            finally:
                await runner.cleanup()
                await self.agent.stop()
                await self.chatbot.stop()
                await self.slack.stop()

    async def _story(self, http: aiohttp.ClientSession) -> None:
        say = self.say
        say(f"deskhand demo: bot on {self.base}, Slack and chatbot stand-ins running locally")
        answer = await self._webhook(http, "/webhooks/handoffs", HANDOFF)
        say(f"1. chatbot hands over {HANDOFF['handoff_id']}: HTTP {answer[0]} {answer[1]}")

        await self.slack.wait_for(lambda: bool(self.slack.messages(CHANNEL)))
        post = self.slack.messages(CHANNEL)[0]
        say(f"2. posted to #{CHANNEL}: {post['text'][:100]}")
        say(
            "   (card number and password masked, <!channel> defused: "
            f"{'hunter2' not in json.dumps(post)})"
        )
        await self.chatbot.wait_for(lambda: bool(self.chatbot.of_type("handoff_status")))
        say(f"3. customer told: {self.chatbot.of_type('handoff_status')[0]['message']}")

        await self._click(http, HandoffAction.CLAIM, post["ts"])
        await self.chatbot.wait_for(
            lambda: bool(self.chatbot.of_type("handoff_status", status="claimed"))
        )
        say(
            f"4. {AGENT[1]} claims it; customer told: "
            f"{self.chatbot.of_type('handoff_status', status='claimed')[0]['message']}"
        )

        reply_ts = self.slack.post_as_user(
            CHANNEL,
            AGENT[0],
            "Hi Ada, I'm on it: refunding the duplicate now.",
            thread_ts=post["ts"],
        )
        await self._slack_event(
            http,
            slack_requests.message_event(
                channel=CHANNEL,
                user=AGENT[0],
                ts=reply_ts,
                thread_ts=post["ts"],
                text="Hi Ada, I'm on it: refunding the duplicate now.",
            ),
        )
        await self.chatbot.wait_for(lambda: bool(self.chatbot.of_type("agent_message")))
        say(
            f"5. agent replies in the thread; the customer receives: "
            f"{self.chatbot.of_type('agent_message')[0]['text']!r}"
        )

        note_ts = self.slack.post_as_user(
            CHANNEL, AGENT[0], "// check the Stripe dashboard", thread_ts=post["ts"]
        )
        await self._slack_event(
            http,
            slack_requests.message_event(
                channel=CHANNEL,
                user=AGENT[0],
                ts=note_ts,
                thread_ts=post["ts"],
                text="// check the Stripe dashboard",
            ),
        )
        say(
            "6. an internal note (// ...) stays in Slack: callbacks to customer so far: "
            f"{len(self.chatbot.of_type('agent_message'))}"
        )

        await self._refund_story(http)

        await self._webhook(
            http,
            f"/webhooks/handoffs/{HANDOFF['handoff_id']}/messages",
            {"message_id": "m-2", "text": "Thank you! It was invoice 1043."},
        )
        await self.slack.wait_for(
            lambda: any("1043" in json.dumps(m) for m in self.slack.replies(CHANNEL, post["ts"]))
        )
        say("8. the customer writes again; it appears in the Slack thread")

        await self._click(http, HandoffAction.RESOLVE, post["ts"])
        await self.chatbot.wait_for(
            lambda: bool(self.chatbot.of_type("handoff_status", status="resolved"))
        )
        say(
            f"9. resolved; customer told: "
            f"{self.chatbot.of_type('handoff_status', status='resolved')[0]['message']}"
        )
        updates = self.slack.calls_to("chat.update")
        say(
            f"10. the Slack message was re-rendered {len(updates)} times from stored state; "
            "demo complete"
        )

    async def _refund_story(self, http: aiohttp.ClientSession) -> None:
        """The billing AI agent asks to refund the duplicate; a lead approves it in Slack."""
        answer = await self._webhook(http, "/webhooks/approvals", REFUND)
        await self.slack.wait_for(lambda: bool(self.slack.messages(APPROVAL_CHANNEL)))
        post = self.slack.messages(APPROVAL_CHANNEL)[0]
        self.say(
            f"7. the billing agent asks to refund USD 49.00 (HTTP {answer[0]}); "
            f"#{APPROVAL_CHANNEL} shows: {post['text'][:80]}"
        )
        body = slack_requests.block_action(
            action_id=ApprovalAction.APPROVE,
            value=REFUND["request_id"],
            user_id=APPROVER[0],
            user_name=APPROVER[1],
            channel=APPROVAL_CHANNEL,
            message_ts=post["ts"],
            block_id=ApprovalBlock.ACTIONS,
        )
        await self._slack(http, body, "application/x-www-form-urlencoded")
        await self.agent.wait_for(
            lambda: bool(self.agent.of_type("approval_decision", status="executed"))
        )
        executed = self.agent.of_type("approval_decision", status="executed")[0]
        statuses = [d["status"] for d in self.agent.of_type("approval_decision")]
        self.say(
            f"   {APPROVER[1]} approves; refund {executed['result']['refund_id']} ran once; "
            f"the agent heard: {', '.join(statuses)}"
        )

    async def _webhook(
        self, http: aiohttp.ClientSession, path: str, body: dict[str, Any]
    ) -> tuple[int, Any]:
        raw = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        headers |= signed_headers(self.webhook_secret, raw, now=self.clock.now().timestamp())
        async with http.post(self.base + path, data=raw, headers=headers) as response:
            return response.status, await response.json()

    async def _click(self, http: aiohttp.ClientSession, action: str, ts: str) -> None:
        body = slack_requests.block_action(
            action_id=action,
            value=HANDOFF["handoff_id"],
            user_id=AGENT[0],
            user_name=AGENT[1],
            channel=CHANNEL,
            message_ts=ts,
        )
        await self._slack(http, body, "application/x-www-form-urlencoded")

    async def _slack_event(self, http: aiohttp.ClientSession, body: str) -> None:
        await self._slack(http, body, "application/json")

    async def _slack(self, http: aiohttp.ClientSession, body: str, content_type: str) -> None:
        headers = slack_requests.signed(
            self.slack_secret, body, now=self.clock.now().timestamp(), content_type=content_type
        )
        async with http.post(self.base + "/slack/events", data=body, headers=headers) as r:
            if r.status != 200:
                raise RuntimeError(f"Slack request refused: HTTP {r.status} {await r.text()}")
