"""Action ids of the ticketing features."""

from __future__ import annotations

from enum import StrEnum


class TicketAction(StrEnum):
    RETRY = "ticket_retry"  # on a dead-letter alert; value: the handoff_id
