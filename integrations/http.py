"""The one outbound HTTP client every vendor module uses.

It owns retries (tenacity), per-host circuit breaking, error translation into
``integrations.errors`` and structured logging. Vendor modules never retry on their own.

Logs carry system, method, host, path (never the query string), status, attempt and
elapsed_ms; never headers or bodies. Paths on hosts that put secrets in the path (Slack
incoming webhooks and ``response_url``) are redacted.
"""

from __future__ import annotations

import asyncio
import email.utils
import json as jsonlib
import math
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from email.message import Message
from typing import Any, NoReturn, Self

import aiohttp
import structlog
from multidict import CIMultiDict
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from yarl import URL

from integrations.circuit import CircuitBreaker, CircuitState
from integrations.errors import (
    CircuitOpen,
    Conflict,
    IntegrationError,
    NotFound,
    RateLimited,
    Rejected,
    Unavailable,
)
from storage.limits import fit_key

__all__ = ["HttpClient", "HttpResponse", "parse_retry_after"]

log = structlog.get_logger(__name__)


_ERROR_BODY_LIMIT = 4096  # characters of a 4xx body kept on Rejected.body
_SECRET_PATH_HOSTS = frozenset({"hooks.slack.com"})

# No header carries a control character (aiohttp refuses one outright), yet a key can hold
# one when it is made of ids a ticketing system or Slack sent (event ids, message ts).
_NOT_IN_A_HEADER = re.compile(r"[\x00-\x1f\x7f%]")


def header_safe_key(key: str) -> str:
    """``key`` as an Idempotency-Key header: unchanged unless it holds a control character
    or "%", which are percent-escaped (so two keys never become one), then fitted again."""
    escaped = _NOT_IN_A_HEADER.sub(lambda m: f"%{ord(m.group()):02X}", key)
    return key if escaped == key else fit_key(escaped)


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return jsonlib.loads(self.body)

    @property
    def text(self) -> str:
        msg = Message()
        msg["content-type"] = self.headers.get("Content-Type", "")
        charset = msg.get_content_charset() or "utf-8"
        try:
            return self.body.decode(charset, errors="replace")
        except LookupError:
            return self.body.decode("utf-8", errors="replace")


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date).

    ``now`` is a Unix timestamp for HTTP-dates (default: wall clock). Returns ``None`` if the
    header is missing or unparseable; dates in the past give 0.0.
    """
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(seconds, 0.0)


@dataclass
class _Call:
    """What one logical request logs; never headers, bodies or query strings."""

    system: str
    method: str
    host: str
    path: str
    attempt: int = 0
    status: int | None = None
    started: float = field(default_factory=time.perf_counter)

    def fields(self, started: float | None = None) -> dict[str, Any]:
        since = self.started if started is None else started
        return {
            "system": self.system,
            "method": self.method,
            "host": self.host,
            "path": self.path,
            "status": self.status,
            "attempt": self.attempt,
            "elapsed_ms": round((time.perf_counter() - since) * 1000, 1),
        }

    def describe(self) -> str:
        status = f"HTTP {self.status}" if self.status is not None else "no response"
        return f"{self.method} {self.host}{self.path} -> {status}"


class HttpClient:
    def __init__(
        self,
        *,
        timeout: float = 10.0,
        max_attempts: int = 3,
        backoff_base: float = 0.2,
        backoff_max: float = 5.0,
        max_retry_after: float = 30.0,
        failure_threshold: int = 5,
        reset_after: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        user_agent: str = "deskhand",
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._max_attempts = max_attempts
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._max_retry_after = max_retry_after
        self._failure_threshold = failure_threshold
        self._reset_after = reset_after
        self._monotonic = monotonic
        self._sleep = sleep
        self._user_agent = user_agent
        self._session = session
        self._owns_session = session is None
        self._breakers: dict[str, CircuitBreaker] = {}

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(limit=100, limit_per_host=20, ttl_dns_cache=300),
            )
            self._owns_session = True

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None and self._owns_session:
            await session.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def circuit_states(self) -> dict[str, CircuitState]:
        """Per-host breaker state, for metrics."""
        return {host: breaker.state for host, breaker in self._breakers.items()}

    async def request(
        self,
        method: str,
        url: str,
        *,
        system: str,
        json: Any = None,
        data: Mapping[str, str] | str | bytes | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        resend_on_doubt: bool = True,
    ) -> HttpResponse:
        """``resend_on_doubt=False`` for a request the server may have carried out even
        though no answer came back (a POST without an idempotency key the server honours):
        then only answers that prove nothing was done (429, connection refused) are retried;
        a timeout or 5xx is the caller's to resolve (look before trying again)."""
        if self._session is None:
            raise RuntimeError("HttpClient.start() has not been awaited")
        if json is not None and data is not None:
            raise ValueError("pass json or data, not both")
        target = URL(url)
        if target.scheme not in ("http", "https") or not target.host:
            raise ValueError("url must be an absolute http(s) URL")
        host = target.host if target.is_default_port() else f"{target.host}:{target.port}"
        call = _Call(system, method.upper(), host, _log_path(target))
        breaker = self._breakers.get(host)
        if breaker is None:
            breaker = self._breakers[host] = CircuitBreaker(
                failure_threshold=self._failure_threshold,
                reset_after=self._reset_after,
                monotonic=self._monotonic,
            )
        send_headers = CIMultiDict({"User-Agent": self._user_agent})
        send_headers.update(headers or {})  # case-insensitive: caller's values win
        if idempotency_key is not None:
            send_headers["Idempotency-Key"] = header_safe_key(idempotency_key)
        send = {"headers": send_headers, "json": json, "data": data, "params": params}
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._max_attempts),
            wait=self._wait,
            retry=retry_if_exception(
                self._should_retry if resend_on_doubt else self._should_retry_unsent
            ),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    call.attempt = attempt.retry_state.attempt_number
                    response = await self._attempt(self._session, breaker, call, target, send)
        except IntegrationError as exc:
            log.warning("http.request_failed", error=type(exc).__name__, **call.fields())
            raise
        log.info("http.request", **call.fields())
        return response

    async def _attempt(
        self,
        session: aiohttp.ClientSession,
        breaker: CircuitBreaker,
        call: _Call,
        target: URL,
        send: Mapping[str, Any],
    ) -> HttpResponse:
        permit = breaker.acquire()
        call.status = None
        if permit is None:
            error = CircuitOpen(
                call.system, f"circuit open: {call.host}", retry_after=breaker.retry_after
            )
            self._fail(call, None, error)
        started = time.perf_counter()
        verdict = False
        try:
            try:
                async with session.request(
                    call.method, target, timeout=self._timeout, **send
                ) as resp:
                    call.status = resp.status
                    body = await resp.read()
                    response = HttpResponse(resp.status, resp.headers, body)
            except (aiohttp.ClientError, TimeoutError) as exc:
                breaker.record_failure()
                verdict = True
                log.warning("http.attempt_failed", error=type(exc).__name__, **call.fields(started))
                raise Unavailable(call.system, f"{call.describe()}: {type(exc).__name__}") from exc
            status = response.status
            if status >= 500:
                breaker.record_failure()
                verdict = True
                self._fail(call, started, Unavailable(call.system, call.describe()))
            breaker.record_success()  # the host answered: 2xx-4xx all count as healthy
            verdict = True
            if status == 429:
                wait = parse_retry_after(response.headers.get("Retry-After"))
                self._fail(
                    call, started, RateLimited(call.system, call.describe(), retry_after=wait)
                )
            if status >= 400:
                text = response.text[:_ERROR_BODY_LIMIT]
                cls = {404: NotFound, 409: Conflict}.get(status, Rejected)
                self._fail(
                    call, started, cls(call.system, call.describe(), status=status, body=text)
                )
            return response
        finally:
            if permit == "trial" and not verdict:
                breaker.abandon_trial()

    @staticmethod
    def _fail(call: _Call, started: float | None, error: IntegrationError) -> NoReturn:
        log.warning("http.attempt_failed", error=type(error).__name__, **call.fields(started))
        raise error

    def _should_retry(self, exc: BaseException) -> bool:
        if isinstance(exc, CircuitOpen):
            return False
        if isinstance(exc, Unavailable):
            return True
        if isinstance(exc, RateLimited):
            return exc.retry_after is None or exc.retry_after <= self._max_retry_after
        return False

    def _should_retry_unsent(self, exc: BaseException) -> bool:
        if isinstance(exc, RateLimited):
            return self._should_retry(exc)
        # Refused before a byte was sent: nothing can have been done.
        return isinstance(exc, Unavailable) and isinstance(
            exc.__cause__, aiohttp.ClientConnectorError
        )

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            return exc.retry_after
        # Exponential backoff with "equal jitter": half fixed, half random.
        exponent = min(state.attempt_number - 1, 32)
        ceiling = min(self._backoff_max, self._backoff_base * 2.0**exponent)
        return ceiling / 2 + random.uniform(0, ceiling / 2)


def _log_path(url: URL) -> str:
    if url.host in _SECRET_PATH_HOSTS:
        first = url.path.lstrip("/").split("/", 1)[0]
        return f"/{first}/[redacted]"
    return url.path
