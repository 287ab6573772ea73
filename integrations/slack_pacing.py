"""deskhand's own pacing of its Slack Web API calls, so that it stays under Slack's limits.

Slack's limits (https://docs.slack.dev/apis/web-api/rate-limits, "Rate limits"): they are
applied "per API method per workspace/team per app"; each method has a tier, Tier 1
"1+ per minute", Tier 2 "20+ per minute", Tier 3 "50+ per minute", Tier 4 "100+ per
minute", each with some bursts tolerated, or a special tier: chat.postMessage "generally
allows posting one message per second per channel, while also maintaining a workspace-wide
limit" ("Short bursts >1 allowed"; the workspace's is "several hundred messages per
minute"). Each method's tier is on its reference page
(https://docs.slack.dev/reference/methods/<method>, "Rate limits"); the table below was
checked against Slack's own Java SDK table (slackapi/java-slack-sdk, MethodsRateLimits).

Every limit is a bucket (GCRA, the "virtual scheduling" token bucket): a rate and a burst.
A call reserves its place in each of its buckets and waits until then, so concurrent
callers queue in arrival order and the calls leave at the paced rate. A call that would
wait longer than ``max_wait`` takes nothing and raises RateLimited with the wait, so an
outbox delivery is deferred instead of holding its slot. A 429 pauses the call's bucket
for everyone until its Retry-After has passed.

Slack publishes rates as minimums ("50+") and no burst sizes: the rates below are the
minimums, and the bursts are our choice, small. Not paced: chat.postMessage's workspace-wide
limit (deskhand posts into a few channels at 60 a minute each, far below it; a 429 from it
pauses the channel like any other). One pacer per process: replicas each pace themselves
(a 429 then pauses and defers as above).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from integrations.errors import RateLimited

SYSTEM = "slack"


@dataclass(frozen=True)
class Limit:
    """``per_minute`` calls a minute on average, up to ``burst`` at once after a quiet spell."""

    per_minute: float
    burst: int = 1


TIER_1 = Limit(1, 1)  # "A small amount of burst behavior is tolerated."
TIER_2 = Limit(20, 3)  # "occasional bursts of more requests"
TIER_3 = Limit(50, 5)  # "Sporadic bursts are welcome."
TIER_4 = Limit(100, 10)  # "generous burst behavior"
# auth.test, chat.getPermalink: "hundreds of requests per minute".
HUNDREDS = Limit(200, 10)
# chat.postMessage: 1 a second per channel with short bursts. Thread replies are posts to
# the channel too.
POST_PER_CHANNEL = Limit(60, 3)
POST_MESSAGE = "chat.postMessage"

# The methods deskhand calls (and the stand-in serves), by their documented tier.
METHOD_LIMITS: Mapping[str, Limit] = {
    "auth.test": HUNDREDS,  # special
    "chat.getPermalink": HUNDREDS,  # special
    "chat.postEphemeral": TIER_4,
    "chat.update": TIER_3,
    "conversations.history": TIER_3,  # internal apps (Tier 1-like for new commercial apps)
    "conversations.info": TIER_3,
    "conversations.replies": TIER_3,  # the same
    "files.completeUploadExternal": TIER_4,
    "files.getUploadURLExternal": TIER_4,
    "reactions.add": TIER_3,
    "usergroups.users.list": TIER_2,
    "users.info": TIER_4,
    "views.open": TIER_4,
    "views.publish": TIER_4,
    "views.push": TIER_4,
    "views.update": TIER_4,
}
# A method not listed is paced as Tier 2, as most methods are ("Most methods allow at least
# 20 requests per minute").
DEFAULT_LIMIT = TIER_2
# apps.connections.open (Tier 1) is not paced: it takes the app-level token, and Socket
# Mode must reconnect at once rather than a minute later; slack_sdk retries it itself.
UNPACED = frozenset({"apps.connections.open"})

# The longest a call waits for its turn; beyond it, RateLimited (the outbox defers the row).
MAX_WAIT = 5.0
# A 429 without a Retry-After pauses its bucket this long (slack_sdk's handler waits 1-2 s).
DEFAULT_PAUSE = 1.0
# Idle buckets are forgotten past this many (one per channel posted to): a forgotten bucket
# is a full one, which an idle bucket is anyway.
PRUNE_ABOVE = 1000

Sleep = Callable[[float], Awaitable[None]]
BucketKey = tuple[str, str]


class _Bucket:
    """GCRA: ``tat`` is the theoretical arrival time of the next call at the steady rate; a
    call may go ``tolerance`` (burst - 1 intervals) ahead of it."""

    __slots__ = ("interval", "tat", "tolerance")

    def __init__(self, limit: Limit, scale: float, now: float) -> None:
        self.interval = 60.0 / (limit.per_minute * scale)
        self.tolerance = self.interval * (max(1, limit.burst) - 1)
        self.tat = now

    def earliest(self, now: float) -> float:
        at = self.tat - self.tolerance
        # Sums of intervals drift by a few ulps: a nanosecond's wait is no wait.
        return now if at <= now + 1e-9 else at

    def take(self, at: float) -> None:
        self.tat = max(self.tat, at) + self.interval

    def pause_until(self, until: float) -> None:
        # No call before ``until``, then the steady rate again (no fresh burst).
        self.tat = max(self.tat, until + self.tolerance)


class SlackPacer:
    """Buckets per method (and per channel for chat.postMessage), shared by every caller.

    ``scale`` multiplies every rate (tests run Slack's limits faster; production uses 1).
    ``monotonic`` and ``sleep`` are injectable so that tests need no real waiting.
    """

    def __init__(
        self,
        *,
        scale: float = 1.0,
        max_wait: float = MAX_WAIT,
        methods: Mapping[str, Limit] = METHOD_LIMITS,
        default: Limit = DEFAULT_LIMIT,
        per_channel: Limit = POST_PER_CHANNEL,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if scale <= 0:
            raise ValueError("scale must be positive")
        self.scale = scale
        self.max_wait = max_wait
        self._methods = dict(methods)
        self._default = default
        self._per_channel = per_channel
        self._monotonic = monotonic
        self._sleep = sleep
        self._buckets: dict[BucketKey, _Bucket] = {}
        self.waited = 0.0  # seconds callers were told to wait, in total (for tests, metrics)

    @staticmethod
    def paced(method: str) -> bool:
        return method not in UNPACED

    def _limit(self, method: str, channel: str | None) -> tuple[BucketKey, Limit]:
        if method == POST_MESSAGE:
            # (A post without a channel is refused by Slack: it shares one bucket.)
            return (method, channel or ""), self._per_channel
        return (method, ""), self._methods.get(method, self._default)

    def _bucket(self, key: BucketKey, limit: Limit, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= PRUNE_ABOVE:
                self._prune(now)
            bucket = self._buckets[key] = _Bucket(limit, self.scale, now)
        return bucket

    def _prune(self, now: float) -> None:
        for key in [k for k, b in self._buckets.items() if b.tat <= now]:
            del self._buckets[key]

    def reserve(self, method: str, channel: str | None = None) -> float:
        """Take this call's place; the seconds to wait before sending it (0: at once).

        Raises RateLimited, taking nothing, when the wait would exceed ``max_wait``.
        """
        if not self.paced(method):
            return 0.0
        now = self._monotonic()
        bucket = self._bucket(*self._limit(method, channel), now)
        at = bucket.earliest(now)
        wait = at - now
        if wait > self.max_wait:
            where = f" in {channel}" if channel and method == POST_MESSAGE else ""
            raise RateLimited(
                SYSTEM, f"{method}{where}: paced, next call in {wait:.1f}s", retry_after=wait
            )
        bucket.take(at)
        self.waited += wait
        return wait

    async def acquire(self, method: str, channel: str | None = None) -> None:
        """Wait for this call's turn (at most ``max_wait``; RateLimited beyond)."""
        wait = self.reserve(method, channel)
        if wait > 0:
            await self._sleep(wait)

    def pause(self, method: str, channel: str | None, retry_after: float | None) -> None:
        """Slack answered 429: nobody calls ``method`` (in ``channel``, for chat.postMessage)
        until ``retry_after`` seconds have passed."""
        if not self.paced(method):
            return
        now = self._monotonic()
        delay = DEFAULT_PAUSE if retry_after is None else max(0.0, retry_after)
        self._bucket(*self._limit(method, channel), now).pause_until(now + delay)
