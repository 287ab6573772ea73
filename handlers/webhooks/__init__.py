"""Inbound webhooks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from handlers.webhooks import approvals, handoffs, tickets

if TYPE_CHECKING:
    from bot.app import Deskhand


def install(app: Deskhand) -> None:
    handoffs.install(app)
    approvals.install(app)
    tickets.install(app)
