"""Block Kit modals of refund approvals: the reason for a rejection, the partial amount.

Both are pure, carry `private_metadata` through unchanged, and use the input ids of
`ApprovalBlock` (each input's `action_id` equals its `block_id`) that the listeners read.
"""

from __future__ import annotations

from typing import Any

from bot.approvals.actions import ApprovalBlock, ApprovalModal
from bot.approvals.blocks_text import agent_text, customer_label, requested_amount
from bot.approvals.money import MAX_AMOUNT_TEXT, minor_unit_exponent
from bot.approvals.view import ApprovalView
from bot.handoffs.blocks_transcript import MAX_FIELD_TEXT, Block, plain, section
from bot.text import truncate

__all__ = ["partial_modal", "reject_modal"]

MAX_MODAL_TITLE = 24
MAX_PRIVATE_METADATA = 3000
MAX_INPUT_TEXT = 1000


def reject_modal(view: ApprovalView, *, private_metadata: str) -> dict[str, Any]:
    """The modal asking an approver why they reject the request (the agent is told)."""
    reason = _text_input(
        ApprovalBlock.REASON,
        "Why are you rejecting this refund?",
        hint="The requesting agent receives this reason.",
    )
    return _modal(
        ApprovalModal.REJECT,
        "Reject refund",
        "Reject",
        private_metadata,
        [section(_modal_summary(view)), reason],
    )


def partial_modal(view: ApprovalView, *, private_metadata: str) -> dict[str, Any]:
    """The modal where an approver approves a smaller amount than the agent asked for."""
    code = view.currency.upper()
    example = _amount_example(view.currency)
    amount: Block = {
        "type": "input",
        "block_id": ApprovalBlock.AMOUNT.value,
        "label": plain("Amount to refund"),
        "element": {
            "type": "plain_text_input",
            "action_id": ApprovalBlock.AMOUNT.value,
            "max_length": MAX_AMOUNT_TEXT,
            "placeholder": plain(truncate(example, 150)),
        },
        "hint": plain(
            truncate(
                f"In {agent_text(code, 10)}, at most {requested_amount(view)}. "
                f'Type it like "{example}".',
                MAX_FIELD_TEXT,
            )
        ),
    }
    note = _text_input(ApprovalBlock.NOTE, "Note", hint="Kept in the audit trail.", optional=True)
    return _modal(
        ApprovalModal.PARTIAL,
        "Partial refund",
        "Approve",
        private_metadata,
        [section(_modal_summary(view)), amount, note],
    )


def _modal(
    callback_id: ApprovalModal, title: str, submit: str, private_metadata: str, blocks: list[Block]
) -> dict[str, Any]:
    if len(private_metadata) > MAX_PRIVATE_METADATA:
        raise ValueError("private_metadata is longer than Slack accepts")
    return {
        "type": "modal",
        "callback_id": callback_id.value,
        "title": plain(truncate(title, MAX_MODAL_TITLE)),
        "submit": plain(truncate(submit, MAX_MODAL_TITLE)),
        "close": plain("Cancel"),
        "private_metadata": private_metadata,
        "blocks": blocks,
    }


def _modal_summary(view: ApprovalView) -> str:
    return (
        f"*Refund {requested_amount(view)}* requested by {agent_text(view.requested_by)}\n"
        f"Customer: {customer_label(view)}\nPayment: {agent_text(view.payment_id, 255)}"
    )


def _text_input(block: ApprovalBlock, label: str, *, hint: str, optional: bool = False) -> Block:
    return {
        "type": "input",
        "block_id": block.value,
        "label": plain(label),
        "optional": optional,
        "element": {
            "type": "plain_text_input",
            "action_id": block.value,
            "multiline": True,
            "max_length": MAX_INPUT_TEXT,
        },
        "hint": plain(hint),
    }


def _amount_example(currency: str) -> str:
    """How an amount of this currency is typed: "12.50", "1250" (JPY), "12.500" (KWD)."""
    try:
        exponent = minor_unit_exponent(currency)
    except ValueError:
        exponent = 2
    return "12." + "50".ljust(exponent, "0")[:exponent] if exponent else "1250"
