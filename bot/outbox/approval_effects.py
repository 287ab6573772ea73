"""Outbox effects of approvals: the message in DESKHAND_APPROVAL_CHANNEL (rebuilt from
stored state), the audit notices in its thread, the refund, and the agent's callbacks."""

from __future__ import annotations

from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.approvals import blocks
from bot.approvals.execution import RefundExecution
from bot.approvals.mapping import approval_marker, to_view
from bot.approvals.view import ApprovalView
from bot.outbox.dead_letters import DeadLetterHook
from bot.outbox.dispatcher import NotReady, Permanent
from bot.outbox.kinds import OutboxKind
from bot.outbox.slack_effects import SlackEffects
from bot.slack_api import call
from integrations.chatbot import ChatbotCallbacks
from integrations.errors import IntegrationError
from storage.db import Database
from storage.models import Approval
from storage.outbox import OutboxMessage


class ApprovalEffects:
    def __init__(
        self,
        db: Database,
        client: AsyncWebClient,
        slack: SlackEffects,
        execution: RefundExecution,
        agent: ChatbotCallbacks,
        *,
        channel: str | None,
        backup_approvers: tuple[str, ...],
    ) -> None:
        self._db = db
        self._client = client
        self._slack = slack
        self._execution = execution
        self._agent = agent
        self._channel = channel
        self._backups = backup_approvers

    def effects(self) -> dict[str, Any]:
        return {
            OutboxKind.SLACK_APPROVAL_MESSAGE: self.message,
            OutboxKind.SLACK_APPROVAL_NOTICE: self.notice,
            OutboxKind.PAYMENT_REFUND: self._execution.run,
            OutboxKind.AGENT_CALLBACK: self.agent_callback,
        }

    def dead_letter_hooks(self) -> dict[str, DeadLetterHook]:
        """Run with a dead letter of these kinds, in its transaction: a refund given up
        on (or refused outright) is `failed`, its message says so, the agent hears it."""
        return {OutboxKind.PAYMENT_REFUND: self._execution.dead_letter}

    async def _view(self, request_id: str) -> tuple[Approval, ApprovalView, tuple[str, str] | None]:
        """The request as stored, and its handoff's Slack thread when there is one."""
        async with self._db.reads() as uow:
            approval = await uow.approvals.get(request_id)
            if approval is None:
                raise Permanent(f"approval {request_id} is gone")
            events = await uow.approvals.events(approval.id)
            handoff = await uow.handoffs.get(approval.handoff_id) if approval.handoff_id else None
        thread = None
        if handoff is not None and handoff.slack_channel and handoff.slack_ts:
            thread = (handoff.slack_channel, handoff.slack_ts)
        view = to_view(
            approval,
            events,
            handoff_reference=handoff.reference if handoff else None,
            backup_approvers=self._backups,
        )
        return approval, view, thread

    async def message(self, message: OutboxMessage) -> None:
        request_id = message.payload["request_id"]
        approval, view, thread = await self._view(request_id)
        if thread is not None and approval.handoff_url is None:
            url = await self._permalink(*thread)
            if url is not None:
                async with self._db.uow() as uow:
                    await uow.approvals.update(request_id, {"handoff_url": url})
                    await uow.commit()
                approval, view, _ = await self._view(request_id)
        marker = approval_marker(request_id)
        new = await self._slack.post_or_update(
            message,
            blocks.approval_message(view, marker=marker),
            marker=marker,
            posted=(approval.slack_channel, approval.slack_ts),
            channel=self._channel,
            setting="DESKHAND_APPROVAL_CHANNEL",
        )
        if new is None:
            return
        channel, ts = new
        async with self._db.uow() as uow:
            await uow.approvals.update(request_id, {"slack_channel": channel, "slack_ts": ts})
            await uow.commit()

    async def notice(self, message: OutboxMessage) -> None:
        request_id, event_id = message.payload["request_id"], int(message.payload["event_id"])
        approval, view, _ = await self._view(request_id)
        if not approval.slack_ts or not approval.slack_channel:
            raise NotReady("the approval message is not posted yet", retry_in=10)
        entry = next((e for e in view.history if e.event_id == event_id), None)
        if entry is None:
            raise Permanent(f"approval event {event_id} is gone")
        channel, thread_ts = approval.slack_channel, approval.slack_ts
        marker = approval_marker(request_id, f"event:{event_id}")
        if message.attempts > 1 and marker in await self._slack.markers_in_thread(
            channel, thread_ts
        ):
            return
        rendered = blocks.audit_notice(entry, view)
        rendered["blocks"][0] = {**rendered["blocks"][0], "block_id": marker}
        await call(
            "chat.postMessage",
            self._client.chat_postMessage(channel=channel, thread_ts=thread_ts, **rendered),
        )

    async def agent_callback(self, message: OutboxMessage) -> None:
        # The row's idempotency key is the callback's: every retry carries the same one.
        await self._agent.send(message.payload["body"], idempotency_key=message.idempotency_key)

    async def _permalink(self, channel: str, ts: str) -> str | None:
        try:
            data = await call(
                "chat.getPermalink", self._client.chat_getPermalink(channel=channel, message_ts=ts)
            )
        except IntegrationError:
            return None  # the link is a convenience: the message goes out without it
        permalink = data.get("permalink")
        return str(permalink) if permalink else None
