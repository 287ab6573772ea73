"""Every action, block and modal id of the approvals feature (builders and listeners share them)."""

from enum import StrEnum


class ApprovalAction(StrEnum):
    APPROVE = "approval_approve"
    # Extension: opens a modal where the approver enters a smaller amount.
    APPROVE_PARTIAL = "approval_approve_partial"
    REJECT = "approval_reject"


class ApprovalModal(StrEnum):
    REJECT = "approval_reject_modal"
    PARTIAL = "approval_partial_modal"


class ApprovalBlock(StrEnum):
    ACTIONS = "approval_actions"
    # Input blocks of the modals; each input's action_id equals its block_id.
    REASON = "approval_reason"
    AMOUNT = "approval_amount"
    NOTE = "approval_note"
