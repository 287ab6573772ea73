"""Slack: the /slack/events route and the Bolt listeners behind it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from handlers.slack import adapter, approvals, desk, errors, handoffs, tickets

if TYPE_CHECKING:
    from bot.app import Deskhand


def install(app: Deskhand) -> None:
    errors.install(app)
    handoffs.install(app)
    approvals.install(app)
    desk.install(app)
    tickets.install(app)
    adapter.install(app)
