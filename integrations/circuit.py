"""A per-host circuit breaker: stop hammering a remote that is clearly down.

closed    -> every call goes through; ``failure_threshold`` consecutive failures open it.
open      -> calls are refused without touching the network for ``reset_after`` seconds.
half_open -> exactly one trial call is let through; its success closes the circuit, its
             failure opens it again for another ``reset_after`` seconds.

Single event loop only (no locking): every method is synchronous, so there is no await
between checking and updating the state.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

__all__ = ["CircuitBreaker", "CircuitState", "Permit"]

CircuitState = Literal["closed", "open", "half_open"]
Permit = Literal["call", "trial"]

# While a half-open trial is in flight, other callers are told to come back after this long
# (never longer than ``reset_after``); the trial itself is bounded by the request timeout.
_TRIAL_RETRY_AFTER = 1.0


class CircuitBreaker:
    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        reset_after: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be >= 1")
        if reset_after < 0:
            raise ValueError("reset_after must be >= 0")
        self._threshold = failure_threshold
        self._reset_after = reset_after
        self._monotonic = monotonic
        self._state: CircuitState = "closed"
        self._failures = 0
        self._opened_at = 0.0
        self._trial_in_flight = False

    @property
    def state(self) -> CircuitState:
        """The current state; an open circuit whose timer ran out reads as ``half_open``."""
        if self._state == "open" and self._monotonic() - self._opened_at >= self._reset_after:
            self._state = "half_open"
            self._trial_in_flight = False
        return self._state

    @property
    def retry_after(self) -> float:
        """Seconds until a call may be let through (0.0 when one would be now)."""
        state = self.state
        if state == "open":
            return max(self._opened_at + self._reset_after - self._monotonic(), 0.0)
        if state == "half_open" and self._trial_in_flight:
            return min(_TRIAL_RETRY_AFTER, self._reset_after)
        return 0.0

    def acquire(self) -> Permit | None:
        """Ask to make a call: ``"call"``, ``"trial"`` (the single half-open probe) or ``None``.

        A ``"trial"`` permit must end in ``record_success``, ``record_failure`` or
        ``abandon_trial`` (e.g. on cancellation), or the circuit stays half-open forever.
        """
        state = self.state
        if state == "closed":
            return "call"
        if state == "half_open" and not self._trial_in_flight:
            self._trial_in_flight = True
            return "trial"
        return None

    def record_success(self) -> None:
        self._state = "closed"
        self._failures = 0
        self._trial_in_flight = False

    def record_failure(self) -> None:
        state = self.state
        if state == "half_open":
            self._open()
        elif state == "closed":
            self._failures += 1
            if self._failures >= self._threshold:
                self._open()
        # Already open: a late failure from a call started before it opened; keep the timer.

    def abandon_trial(self) -> None:
        """The trial call ended without a verdict (cancelled, bad arguments): free the slot."""
        if self._state == "half_open":
            self._trial_in_flight = False

    def _open(self) -> None:
        self._state = "open"
        self._opened_at = self._monotonic()
        self._failures = 0
        self._trial_in_flight = False
