"""The messages deskhand sends to a customer, and the placeholders each one may use."""

from __future__ import annotations

from enum import StrEnum


class MessageKey(StrEnum):
    QUEUED = "queued"
    QUEUED_WITH_POSITION = "queued_with_position"
    QUEUE_POSITION_IMPROVED = "queue_position_improved"
    TICKET_CREATED = "ticket_created"
    OFFLINE = "offline"
    OFFLINE_TICKET_FILED = "offline_ticket_filed"
    CLAIMED = "claimed"
    RELEASED = "released"
    RESOLVED = "resolved"
    RETURNED_TO_BOT = "returned_to_bot"


# The names a template of each key may use; `render` needs a value for every one of them.
PLACEHOLDERS: dict[MessageKey, frozenset[str]] = {
    MessageKey.QUEUED: frozenset({"reference"}),
    MessageKey.QUEUED_WITH_POSITION: frozenset({"reference", "position", "wait"}),
    MessageKey.QUEUE_POSITION_IMPROVED: frozenset({"position", "wait"}),
    MessageKey.TICKET_CREATED: frozenset({"ticket_id"}),
    MessageKey.OFFLINE: frozenset({"offline_reference"}),
    MessageKey.OFFLINE_TICKET_FILED: frozenset({"ticket_id", "offline_reference"}),
    MessageKey.CLAIMED: frozenset({"agent"}),
    MessageKey.RELEASED: frozenset({"reference"}),
    MessageKey.RESOLVED: frozenset({"reference"}),
    MessageKey.RETURNED_TO_BOT: frozenset(),
}

# The placeholder whose int value is a number of seconds, shown through `humanize_wait`.
WAIT = "wait"


class Unit(StrEnum):
    """Forms `humanize_wait` uses; `*_one` is used for a count of 1, `*_other` otherwise."""

    LESS_THAN_MINUTE = "less_than_minute"
    MINUTE_ONE = "minute_one"
    MINUTE_OTHER = "minute_other"
    HOUR_ONE = "hour_one"
    HOUR_OTHER = "hour_other"


UNIT_PLACEHOLDERS = frozenset({"count"})
