"""The modals behind Reject and Partial refund: opened only for someone who may decide,
and read back from Slack's view_submission into a decision."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.approvals import blocks
from bot.approvals.actions import ApprovalBlock
from bot.approvals.blocks_modals import MAX_INPUT_TEXT
from bot.approvals.decisions import ApprovalDecisions
from bot.approvals.money import format_amount, parse_amount
from bot.approvals.records import Step
from bot.slack_api import call
from storage.limits import clean_text

MAX_TEXT = MAX_INPUT_TEXT  # what Slack lets the inputs take (blocks_modals.py)


@dataclass(frozen=True)
class FormContext:
    """What a modal carries in private_metadata: enough to check the form without a query."""

    request_id: str
    channel: str | None
    currency: str
    amount_minor: int

    def dump(self) -> str:
        return json.dumps(
            {"r": self.request_id, "c": self.channel, "cur": self.currency, "a": self.amount_minor}
        )

    @classmethod
    def load(cls, raw: str) -> FormContext:
        """What ``dump`` wrote; ValueError for anything else (a forged submission)."""
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise ValueError("the form's context is not JSON") from exc
        fields = data if isinstance(data, dict) else {}
        request_id, channel = fields.get("r"), fields.get("c")
        currency, amount = fields.get("cur"), fields.get("a")
        if not (
            isinstance(request_id, str)
            and (channel is None or isinstance(channel, str))
            and isinstance(currency, str)
            and isinstance(amount, int)
            and not isinstance(amount, bool)
        ):
            raise ValueError("the form's context is not the one deskhand wrote")
        return cls(request_id=request_id, channel=channel, currency=currency, amount_minor=amount)


def field_value(values: dict[str, Any], block: ApprovalBlock) -> str:
    """A plain-text input's value from view.state.values ("" when left empty), at most the
    input's max_length and storable (NUL as U+FFFD)."""
    element = (values.get(block.value) or {}).get(block.value) or {}
    return clean_text(str(element.get("value") or "").strip()[:MAX_TEXT])


def read_partial_amount(context: FormContext, text: str) -> int:
    """The amount typed into the partial-refund form; ValueError with the text to show."""
    amount = parse_amount(text, context.currency)
    if amount >= context.amount_minor:
        asked = format_amount(context.amount_minor, context.currency)
        raise ValueError(f"a partial refund is less than {asked}: use Approve for all of it")
    return amount


class ApprovalForms:
    def __init__(self, client: AsyncWebClient, decisions: ApprovalDecisions) -> None:
        self._client = client
        self._decisions = decisions

    async def open_reject(
        self, request_id: str, step: Step, *, trigger_id: str, channel: str | None
    ) -> None:
        await self._open(blocks.reject_modal, request_id, step, trigger_id, channel, False)

    async def open_partial(
        self, request_id: str, step: Step, *, trigger_id: str, channel: str | None
    ) -> None:
        await self._open(blocks.partial_modal, request_id, step, trigger_id, channel, True)

    async def _open(
        self,
        modal: Callable[..., dict[str, Any]],
        request_id: str,
        step: Step,
        trigger_id: str,
        channel: str | None,
        approving: bool,
    ) -> None:
        """Open ``modal`` only for someone who may decide now (else the audited refusal)."""
        view = await self._decisions.check(request_id, step, approving=approving)
        context = FormContext(request_id, channel, view.currency, view.amount_minor)
        rendered = modal(view, private_metadata=context.dump())
        await call("views.open", self._client.views_open(trigger_id=trigger_id, view=rendered))
