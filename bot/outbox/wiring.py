"""Builds the outbox dispatcher from the settings: its retry policy and what runs when a
delivery becomes a dead letter (kept here so the composition root stays short)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from bot.clock import Clock
from bot.config import Settings
from bot.metrics import Metrics
from bot.outbox.dead_letters import DeadLetterHook, DeadLetterHooks, queue_alert
from bot.outbox.dispatcher import Effect, OutboxDispatcher, RetryPolicy
from storage.db import Database


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        base=settings.outbox_backoff_base,
        cap=settings.outbox_retry_cap,
        give_up_after=settings.outbox_give_up_after,
    )


def build_dispatcher(
    settings: Settings,
    db: Database,
    effects: Mapping[str, Effect],
    *,
    clock: Clock,
    metrics: Metrics,
    dead_letter_hooks: Mapping[str, DeadLetterHook],
) -> OutboxDispatcher:
    """``dead_letter_hooks``: per kind, run with the row's dead letter (its owner's
    reaction, e.g. a refund's approval failed); every dead letter is also alerted in Slack."""
    return OutboxDispatcher(
        db,
        effects,
        clock=clock,
        metrics=metrics,
        policy=retry_policy(settings),
        # SQLite has one connection: more deliveries at once would only queue for it,
        # and crowd the event loop that also answers Slack.
        concurrency=4 if db.dialect == "sqlite" else 16,
        lease=timedelta(seconds=settings.outbox_lease),
        dead_letter_hooks=DeadLetterHooks(dead_letter_hooks, every=(queue_alert,)),
    )
