"""Slack's rate limits as the Slack stand-in enforces them, when told to.

Slack applies its limits "per API method per workspace/team per app", each method by its
tier, and chat.postMessage at about one message a second per channel with short bursts
(https://docs.slack.dev/apis/web-api/rate-limits). A call over its budget is answered
HTTP 429 ``{"ok": false, "error": "ratelimited"}`` with a ``Retry-After`` in whole seconds,
and changes nothing.

Slack publishes its rates as minimums ("50+ per minute") and no burst sizes. The stand-in
allows exactly the published rates, and bursts somewhat larger than deskhand's pacer takes
(integrations/slack_pacing.py): the pacer is meant to be the cautious side. Each limit is a
token bucket on an injectable monotonic clock, and ``scale`` runs every rate faster, for
tests that cannot wait a second per post.

This module is the stand-in's own model of Slack: it does not share the pacer's table, so a
mistake there is caught here rather than copied.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# Tier -> (calls per minute, burst). Rates as published; bursts are the stand-in's guess.
TIERS: Mapping[str, tuple[float, int]] = {
    "tier1": (1, 2),
    "tier2": (20, 5),
    "tier3": (50, 10),
    "tier4": (100, 20),
    "hundreds": (300, 20),  # auth.test, chat.getPermalink: "hundreds of requests per minute"
}
# chat.postMessage: one a second per channel with short bursts; several hundred a minute
# for the whole workspace.
POST_PER_CHANNEL = (60.0, 6)
POST_PER_WORKSPACE = (300.0, 30)
POST_MESSAGE = "chat.postMessage"
# Each method's tier, from its reference page (docs.slack.dev/reference/methods/<name>).
METHOD_TIERS: Mapping[str, str] = {
    "apps.connections.open": "tier1",
    "auth.test": "hundreds",
    "chat.getPermalink": "hundreds",
    "chat.postEphemeral": "tier4",
    "chat.update": "tier3",
    "conversations.history": "tier3",
    "conversations.info": "tier3",
    "conversations.replies": "tier3",
    "files.completeUploadExternal": "tier4",
    "files.getUploadURLExternal": "tier4",
    "reactions.add": "tier3",
    "usergroups.users.list": "tier2",
    "users.info": "tier4",
    "views.open": "tier4",
    "views.publish": "tier4",
    "views.update": "tier4",
}
DEFAULT_TIER = "tier2"
# Refills are sums of floats: a token short by a few ulps is a whole token.
FULL = 1.0 - 1e-9


@dataclass(frozen=True)
class Refusal:
    """One call answered 429 by the limits: which budget, and the Retry-After sent."""

    method: str
    channel: str | None
    retry_after: int
    at: float


@dataclass
class _Bucket:
    rate: float  # tokens a second
    capacity: float
    tokens: float
    updated: float

    def take(self, now: float) -> float | None:
        """Take a token: None when there was one, else the seconds until there is."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= FULL:
            self.tokens = max(0.0, self.tokens - 1.0)
            return None
        return (1.0 - self.tokens) / self.rate


@dataclass
class SlackLimits:
    """The budgets of one workspace; ``check`` each call as it arrives."""

    scale: float = 1.0
    monotonic: Callable[[], float] = time.monotonic
    refusals: list[Refusal] = field(default_factory=list)
    allowed: int = 0
    _buckets: dict[tuple[str, str], _Bucket] = field(default_factory=dict)

    def _bucket(self, key: tuple[str, str], limit: tuple[float, int], now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            per_minute, burst = limit
            rate = per_minute * self.scale / 60.0
            bucket = self._buckets[key] = _Bucket(rate, float(burst), float(burst), now)
        return bucket

    def check(self, method: str, args: Mapping[str, Any]) -> int | None:
        """None: the call is within its budgets (and uses them up); else the Retry-After,
        in whole seconds (at least 1), of a 429."""
        now = self.monotonic()
        channel: str | None = None
        if method == POST_MESSAGE:
            channel = str(args.get("channel") or "") or None
            budgets = [((method, ""), POST_PER_WORKSPACE)]
            if channel is not None:
                budgets.insert(0, ((method, channel), POST_PER_CHANNEL))
        else:
            tier = METHOD_TIERS.get(method, DEFAULT_TIER)
            budgets = [((method, ""), TIERS[tier])]
        buckets = [self._bucket(key, limit, now) for key, limit in budgets]
        # Look before taking: a refused call uses up none of its budgets.
        waits = [self._peek(b, now) for b in buckets]
        worst = max((w for w in waits if w is not None), default=None)
        if worst is not None:
            retry_after = max(1, math.ceil(worst))
            self.refusals.append(Refusal(method, channel, retry_after, now))
            return retry_after
        for bucket in buckets:
            bucket.take(now)
        self.allowed += 1
        return None

    @staticmethod
    def _peek(bucket: _Bucket, now: float) -> float | None:
        tokens = min(bucket.capacity, bucket.tokens + (now - bucket.updated) * bucket.rate)
        return None if tokens >= FULL else (1.0 - tokens) / bucket.rate

    def count(self, method: str | None = None) -> int:
        """429s answered (to ``method``, or to any)."""
        return sum(1 for r in self.refusals if method in (None, r.method))
