"""Prometheus metrics, one registry per app (no global state, so tests don't collide)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

ACK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 3.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests = Counter(
            "deskhand_http_requests",
            "HTTP requests served, by route and status.",
            ["route", "method", "status"],
            registry=r,
        )
        self.slack_ack_seconds = Histogram(
            "deskhand_slack_ack_seconds",
            "Time from receiving a Slack request to answering it.",
            ["kind"],
            buckets=ACK_BUCKETS,
            registry=r,
        )
        self.webhook_seconds = Histogram(
            "deskhand_webhook_seconds",
            "Time to accept or refuse an inbound webhook.",
            ["route"],
            buckets=ACK_BUCKETS,
            registry=r,
        )
        self.handoffs = Counter(
            "deskhand_handoff_events", "Handoff lifecycle events.", ["event"], registry=r
        )
        self.outbox_processed = Counter(
            "deskhand_outbox_processed",
            "Outbox rows processed, by kind and outcome.",
            ["kind", "outcome"],
            registry=r,
        )
        self.outbox_delivery_seconds = Histogram(
            "deskhand_outbox_delivery_seconds",
            "Time from queuing an outbox row to delivering it.",
            ["kind"],
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600, 3600),
            registry=r,
        )
        self.outbox_depth = Gauge(
            "deskhand_outbox_depth", "Outbox rows waiting to be delivered.", registry=r
        )
        self.outbox_oldest_age = Gauge(
            "deskhand_outbox_oldest_age_seconds",
            "Age of the oldest outbox row waiting to be delivered.",
            registry=r,
        )
        self.outbox_dead_letters = Gauge(
            "deskhand_outbox_dead_letters", "Outbox rows given up on (dead letters).", registry=r
        )
        self.integration_up = Gauge(
            "deskhand_integration_up",
            "1 when the integration's circuit is closed, 0 when open.",
            ["host"],
            registry=r,
        )

        self.ticket_fallbacks = Counter(
            "deskhand_ticket_fallbacks",
            "Fallback branches taken when filing a ticket, by reason.",
            ["reason"],
            registry=r,
        )
        self.ticket_retries = Counter(
            "deskhand_ticket_retries",
            "Retries of offline tickets and failed assignments, by kind and outcome.",
            ["kind", "outcome"],
            registry=r,
        )
        self.ticket_fallbacks_pending = Gauge(
            "deskhand_ticket_fallbacks_pending",
            "Offline tickets and assignments waiting for a retry, by kind.",
            ["kind"],
            registry=r,
        )
        self.queue_size = Gauge(
            "deskhand_queue_size", "Handoffs waiting for an agent (unassigned).", registry=r
        )
        self.ticketing_up = Gauge(
            "deskhand_ticketing_up",
            "1 while the ticketing system answered the last call, 0 while it is unreachable.",
            ["system"],
            registry=r,
        )
        self.ticket_sync_events = Counter(
            "deskhand_ticket_sync_events",
            "Events from the ticketing system, by system, kind and outcome.",
            ["system", "kind", "outcome"],
            registry=r,
        )
        self.approvals = Counter(
            "deskhand_approval_events",
            "Approval steps: requested, approved, rejected, refused, escalated, expired, "
            "executed, failed.",
            ["event"],
            registry=r,
        )
        self.refunds = Counter(
            "deskhand_refunds",
            "Refunds run through the payments system, by system and outcome.",
            ["system", "outcome"],
            registry=r,
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
