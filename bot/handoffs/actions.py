"""Every action and block id of the escalation feature, used by builders and listeners alike."""

from enum import StrEnum


class HandoffAction(StrEnum):
    CLAIM = "handoff_claim"
    RELEASE = "handoff_release"
    RESOLVE = "handoff_resolve"
    RETURN_TO_BOT = "handoff_return_to_bot"


class HandoffBlock(StrEnum):
    ACTIONS = "handoff_actions"
