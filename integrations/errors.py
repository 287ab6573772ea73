"""
Errors raised by the shared outbound HTTP client and the vendor modules built on it.

Vendor modules never let ``aiohttp`` (or any transport) exceptions escape: every failure is
translated into one of the classes below, always with ``raise ... from exc`` so the original
cause stays on ``__cause__``.

The hierarchy:

* IntegrationError            - base class; carries ``system`` (e.g. "jira") and ``message``.
  + Unavailable               - the remote could not be used right now: connection error,
  |                             timeout, 5xx response. Safe to try again later.
  |  + CircuitOpen            - the circuit breaker for the host is open; no request was sent.
  |                             ``retry_after`` says when a trial call will be allowed.
  + RateLimited               - HTTP 429. ``retry_after`` is the wait the server asked for in
  |                             seconds, or ``None`` when it did not say.
  + Rejected                  - any other 4xx: the request itself is wrong and retrying it
     |                          unchanged will not help. Carries ``status`` and ``body``.
     + NotFound               - HTTP 404.
     + Conflict               - HTTP 409.
     + AssignmentRejected     - a ticketing system would not assign a ticket to that agent
                                (unknown agent, no e-mail, refused): keep it unassigned.

Callers usually only need three branches: ``Unavailable``/``RateLimited`` (reschedule),
``Rejected`` (give up, surface the problem), everything else (bug).

``str(error)`` never contains request headers, bodies or query strings; ``Rejected.body``
holds the (truncated) response body for diagnostics and must not be logged verbatim.
"""

from __future__ import annotations

__all__ = [
    "AssignmentRejected",
    "CircuitOpen",
    "Conflict",
    "IntegrationError",
    "NotFound",
    "RateLimited",
    "Rejected",
    "Unavailable",
]


class IntegrationError(Exception):
    """Base class for every failure talking to an external system."""

    def __init__(self, system: str, message: str) -> None:
        super().__init__(message)
        self.system = system
        self.message = message

    def __str__(self) -> str:
        return f"[{self.system}] {self.message}"


class Unavailable(IntegrationError):
    """Connection error, timeout, 5xx, or an open circuit: try again later."""


class CircuitOpen(Unavailable):
    """The host's circuit breaker is open; the request was not sent."""

    def __init__(self, system: str, message: str, *, retry_after: float) -> None:
        super().__init__(system, message)
        self.retry_after = retry_after


class RateLimited(IntegrationError):
    """HTTP 429. ``retry_after`` is in seconds, ``None`` if the server gave no hint."""

    def __init__(self, system: str, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(system, message)
        self.retry_after = retry_after


class Rejected(IntegrationError):
    """A 4xx response other than 404, 409 and 429. Not retried."""

    def __init__(self, system: str, message: str, *, status: int, body: str = "") -> None:
        super().__init__(system, message)
        self.status = status
        self.body = body


class NotFound(Rejected):
    """HTTP 404."""


class Conflict(Rejected):
    """HTTP 409."""


class AssignmentRejected(Rejected):
    """A ticketing system refused to assign a ticket to the agent (or does not know them)."""
