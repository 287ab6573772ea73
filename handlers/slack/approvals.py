"""Approval buttons and modals. Each listener acks, then makes one domain call right after
(bot/after_ack.py); a form is checked before its ack so a bad amount is shown in the modal."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from slack_bolt.context.ack.async_ack import AsyncAck

from bot.approvals.actions import ApprovalAction, ApprovalBlock, ApprovalModal
from bot.approvals.forms import FormContext, field_value, read_partial_amount
from bot.approvals.payloads import ApprovalStatus
from bot.approvals.records import Step
from bot.errors import DeskhandError
from handlers.slack.errors import report

if TYPE_CHECKING:
    from bot.app import Deskhand

Work = Callable[[], Awaitable[None]]


class Opener(Protocol):
    async def __call__(
        self, request_id: str, step: Step, *, trigger_id: str, channel: str | None
    ) -> None: ...


def _step(body: dict[str, Any], source: str) -> Step:
    user = body["user"]
    name = user.get("name") or user.get("username")
    return Step(source=f"slack:{source}", actor_id=user["id"], actor_name=name)


def _context(view: dict[str, Any]) -> FormContext:
    """The form's context as deskhand wrote it; a refusal, not a crash, for any other
    private_metadata (a forged submission)."""
    try:
        return FormContext.load(view.get("private_metadata", ""))
    except ValueError as exc:
        raise DeskhandError("This form is out of date: open it again from the message.") from exc


def _channel(body: dict[str, Any]) -> str | None:
    channel: str | None = (body.get("channel") or {}).get("id")
    return channel


def _submit(app: Deskhand, body: dict[str, Any], work: Work, name: str) -> None:
    async def on_error(error: Exception) -> None:
        await report(app, error, body)

    app.after_ack.submit(work, on_error=on_error, name=name)


async def _tell_if_second_needed(
    app: Deskhand, body: dict[str, Any], step: Step, status: ApprovalStatus, channel: str | None
) -> None:
    if status == ApprovalStatus.PENDING and channel and step.actor_id:
        await app.notices.ephemeral(
            channel=channel,
            user=step.actor_id,
            text="Your approval is recorded; a second approver must approve too.",
            key=f"{step.actor_id}:{body.get('trigger_id') or uuid.uuid4().hex}",
        )


def install(app: Deskhand) -> None:
    approvals = app.approvals

    @app.bolt.action(ApprovalAction.APPROVE.value)
    async def on_approve(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        request_id, step = action["value"], _step(body, ApprovalAction.APPROVE)

        async def work() -> None:
            status = await approvals.decisions.approve(request_id, step)
            await _tell_if_second_needed(app, body, step, status, _channel(body))

        _submit(app, body, work, f"approval_approve:{request_id}")

    def on_form_click(action_id: ApprovalAction, opener: Opener) -> None:
        """Partial refund and Reject open a form, once the clicker may decide."""

        @app.bolt.action(action_id.value)
        async def on_click(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
            await ack()
            request_id, step = action["value"], _step(body, action_id)

            async def work() -> None:
                await opener(
                    request_id, step, trigger_id=body["trigger_id"], channel=_channel(body)
                )

            _submit(app, body, work, f"{action_id}:{request_id}")

    on_form_click(ApprovalAction.APPROVE_PARTIAL, approvals.forms.open_partial)
    on_form_click(ApprovalAction.REJECT, approvals.forms.open_reject)

    @app.bolt.view(ApprovalModal.REJECT.value)
    async def on_reject_form(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        context = _context(view)
        reason = field_value(view["state"]["values"], ApprovalBlock.REASON)
        if not reason:
            await ack(response_action="errors", errors={ApprovalBlock.REASON: "Give a reason."})
            return
        await ack()
        step = _step(body, ApprovalModal.REJECT)

        async def work() -> None:
            await approvals.decisions.reject(context.request_id, step, reason=reason)

        _submit(app, {**body, "channel_id": context.channel}, work, f"reject:{context.request_id}")

    @app.bolt.view(ApprovalModal.PARTIAL.value)
    async def on_partial_form(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        context = _context(view)
        values = view["state"]["values"]
        try:
            amount = read_partial_amount(context, field_value(values, ApprovalBlock.AMOUNT))
        except ValueError as exc:
            message = str(exc)
            await ack(
                response_action="errors",
                errors={ApprovalBlock.AMOUNT: message[:1].upper() + message[1:]},
            )
            return
        await ack()
        note = field_value(values, ApprovalBlock.NOTE) or None
        step = _step(body, ApprovalModal.PARTIAL)

        async def work() -> None:
            status = await approvals.decisions.approve(
                context.request_id, step, amount_minor=amount, note=note
            )
            await _tell_if_second_needed(app, body, step, status, context.channel)

        _submit(app, {**body, "channel_id": context.channel}, work, f"partial:{context.request_id}")
