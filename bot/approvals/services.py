"""The approval services the handlers and jobs reach through the app, built in one place."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.approvals.decisions import ApprovalDecisions
from bot.approvals.execution import RefundExecution
from bot.approvals.expiry import ApprovalExpiry
from bot.approvals.forms import ApprovalForms
from bot.approvals.queries import ApprovalQueries
from bot.approvals.requests import ApprovalPolicy, ApprovalRequests
from bot.clock import Clock
from bot.config import Settings
from bot.metrics import Metrics
from bot.outbox.approval_effects import ApprovalEffects
from bot.outbox.dead_letters import DeadLetterHook
from bot.outbox.slack_effects import SlackEffects
from bot.permissions import Permissions
from integrations.chatbot import ChatbotCallbacks
from integrations.http import HttpClient
from integrations.payments.local import LocalPayments
from integrations.payments.protocol import Payments
from integrations.payments.stripe import StripePayments
from storage.db import Database


@dataclass(frozen=True)
class ApprovalServices:
    requests: ApprovalRequests
    decisions: ApprovalDecisions
    forms: ApprovalForms
    expiry: ApprovalExpiry
    queries: ApprovalQueries
    payments: Payments
    # Run with a dead letter of these kinds, in its transaction (bot/outbox/dead_letters.py).
    dead_letter_hooks: dict[str, DeadLetterHook] = field(default_factory=dict)


def build_approvals(
    settings: Settings,
    *,
    db: Database,
    slack: AsyncWebClient,
    slack_effects: SlackEffects,
    payments: Payments,
    agent: ChatbotCallbacks,
    permissions: Permissions,
    clock: Clock,
    metrics: Metrics,
) -> tuple[ApprovalServices, dict[str, Any]]:
    """The services, and the outbox effects they need the dispatcher to run."""
    policy = ApprovalPolicy(
        expires_after=settings.approval_expires_after,
        escalate_after=settings.escalate_approvals_after,
        dual_approval_above=settings.dual_approval_above,
    )
    backups = settings.backup_approvers
    decisions = ApprovalDecisions(
        db, clock=clock, metrics=metrics, permissions=permissions, policy=policy
    )
    approval_effects = ApprovalEffects(
        db,
        slack,
        slack_effects,
        RefundExecution(db, payments, clock=clock, metrics=metrics),
        agent,
        channel=settings.approval_channel,
        backup_approvers=backups,
    )
    services = ApprovalServices(
        requests=ApprovalRequests(db, clock=clock, metrics=metrics, policy=policy),
        decisions=decisions,
        forms=ApprovalForms(slack, decisions),
        expiry=ApprovalExpiry(db, clock=clock, metrics=metrics, backup_approvers=backups),
        queries=ApprovalQueries(db, backup_approvers=backups),
        payments=payments,
        dead_letter_hooks=approval_effects.dead_letter_hooks(),
    )
    return services, approval_effects.effects()


def build_payments(settings: Settings, http: HttpClient) -> Payments:
    if settings.payments == "stripe":
        assert settings.stripe_api_key is not None  # Settings refuses stripe without it
        return StripePayments(
            http,
            url=str(settings.stripe_api_url),
            api_key=settings.stripe_api_key.get_secret_value(),
        )
    return LocalPayments(trust_unknown=True)
