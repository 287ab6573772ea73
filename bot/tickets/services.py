"""The ticket services the handlers and jobs reach through the app."""

from __future__ import annotations

from dataclasses import dataclass

from bot.customer_messages import CustomerMessages
from bot.tickets.agents import AgentProfiles
from bot.tickets.filing import TicketFiling
from bot.tickets.queue import QueueService
from bot.tickets.retries import TicketRetries
from bot.tickets.sync import TicketSyncService
from integrations.ticketing.protocol import Ticketing, TicketSync


@dataclass(frozen=True)
class TicketServices:
    ticketing: Ticketing
    sync: TicketSync
    syncing: TicketSyncService
    filing: TicketFiling
    retries: TicketRetries
    queue: QueueService
    profiles: AgentProfiles
    messages: CustomerMessages
