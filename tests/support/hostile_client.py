"""Sending hostile requests to the running app and checking each answer the same way.

``HostileDesk.exchange`` sends one request and asserts what holds for every endpoint:
no 5xx, a refusal is a documented JSON error, a refusal stores nothing, nothing is logged
at error level. The caller says which answers the request may get.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from yarl import URL

from integrations.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, signed_headers
from tests.support.approvals_e2e import ApprovalHarness
from tests.support.harness import WEBHOOK_SECRET, Harness
from tests.support.hostile_checks import (
    Tolerated,
    assert_error_body,
    assert_healthy,
    backend,
    no_error_logs,
    read_answer,
    row_counts,
    stored_tally,
    tally,
    write_tally,
)
from tests.support.secret_scan import registry

Headers = dict[str, str]
Mutation = Callable[[Headers], Headers]


def _set(name: str, value: str) -> Mutation:
    return lambda headers: headers | {name: value}


def _drop(name: str) -> Mutation:
    return lambda headers: {k: v for k, v in headers.items() if k != name}


def header_mutations(
    timestamp_header: str | None, signature_header: str, *, hex_case_matters: bool = True
) -> dict[str, Mutation]:
    """Broken signature headers for a scheme: each one must get 401 (the dedicated header
    tests go further). ``timestamp_header`` None: the scheme signs no timestamp (Intercom);
    ``hex_case_matters`` False: the scheme takes its hex in either case (Intercom)."""
    sig = signature_header
    mutations: dict[str, Mutation] = {}
    if timestamp_header is not None:
        mutations |= {
            "timestamp --5": _set(timestamp_header, "--5"),
            "timestamp superscript two": _set(timestamp_header, "²"),
            "timestamp Arabic-Indic digits": _set(timestamp_header, "\u0661\u0667" + "\u0660" * 8),
            "timestamp 400 digits": _set(timestamp_header, "9" * 400),
            "timestamp fraction": _set(timestamp_header, "1700000000.5"),
            "timestamp empty": _set(timestamp_header, ""),
            "timestamp missing": _drop(timestamp_header),
        }
    mutations |= {
        "signature non-ASCII": _set(sig, "v0=" + "é" * 64),
        "signature upper-case hex": lambda h: h | {sig: h[sig].upper()},
        "signature without v0=": lambda h: h | {sig: h[sig][3:]},
        "signature twice": lambda h: h | {sig: h[sig] + "," + h[sig]},
        "signature empty": _set(sig, ""),
        "signature missing": _drop(sig),
    }
    if not hex_case_matters:
        del mutations["signature upper-case hex"]
    return mutations


DESKHAND_HEADER_MUTATIONS = header_mutations(TIMESTAMP_HEADER, SIGNATURE_HEADER)


@asynccontextmanager
async def hostile_desk(
    desk: Harness, database_url: str, approvals: ApprovalHarness | None = None
) -> AsyncIterator[HostileDesk]:
    """``desk`` wrapped for hostile requests; checks health and writes the tally after."""
    counter = create_async_engine(database_url)
    try:
        yield HostileDesk(desk, database_url, counter, approvals)
        await assert_healthy(desk)
    finally:
        write_tally()  # also after a failure: the soak reports what was tried
        await counter.dispose()


@dataclass
class HostileDesk:
    desk: Harness
    database_url: str
    counter: AsyncEngine  # reads the row counts
    approvals: ApprovalHarness | None = None
    # Requests answered 2xx, by key (the handoff_id, ...): their first answer.
    accepted: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, int] | None = None  # rows after the last refusal
    tolerated: Tolerated | None = None  # error logs that are not deskhand's failure

    def signed(self, raw: bytes, content_type: str | None = "application/json") -> Headers:
        headers = signed_headers(WEBHOOK_SECRET, raw, now=self.desk.clock.now().timestamp())
        if content_type is not None:
            headers["Content-Type"] = content_type
        return headers

    async def send(
        self, method: str, path: str, raw: bytes | None, headers: Mapping[str, str]
    ) -> tuple[int, Any]:
        # As sent: a client would drop a dot segment ("/api/approvals/." is "/api/approvals/"
        # to yarl), though "." is an id deskhand takes and its server routes it so.
        url = (
            URL(self.desk.url("/")).with_path(path, encoded=True) if path.startswith("/") else path
        )
        async with self.desk.http.request(
            method, url, data=raw, headers=dict(headers), skip_auto_headers=["Content-Type"]
        ) as response:
            return await read_answer(response)

    async def exchange(
        self,
        endpoint: str,
        method: str,
        path: str,
        raw: bytes | None,
        headers: Mapping[str, str],
        allowed: set[int] | frozenset[int],
        *,
        stores_on_success: bool = True,
    ) -> tuple[int, Any]:
        """Send one request; check the answer is in ``allowed`` (and what always holds)."""
        return await self.checked(
            endpoint,
            lambda: self.send(method, path, raw, headers),
            allowed,
            stores_on_success=stores_on_success,
        )

    async def checked(
        self,
        endpoint: str,
        answer: Callable[[], Awaitable[tuple[int, Any]]],
        allowed: set[int] | frozenset[int],
        *,
        stores_on_success: bool = True,
    ) -> tuple[int, Any]:
        """``exchange`` for a request sent by ``answer`` (raw HTTP, say): (status, body)."""
        before = self.counts or await row_counts(self.counter)
        self.counts = None  # counted again next time, even if a check below fails
        with no_error_logs(self.tolerated) as logs:
            status, body = await answer()
        leaked = registry.names_in(repr(logs) + repr(body))
        assert leaked == [], f"{endpoint}: the answer or the logs hold {leaked}"
        key = (backend(self.database_url), endpoint, status)
        tally[key] += 1
        assert status < 500, (endpoint, status, body)
        assert status in allowed, (endpoint, status, body, sorted(allowed))
        if status >= 400:
            assert_error_body(status, body)
        if status >= 400 or not stores_on_success:
            after = await row_counts(self.counter)
            changed = {t: (before[t], after[t]) for t in before if before[t] != after[t]}
            if changed and status >= 400:
                stored_tally[key] += 1
            assert changed == {}, (endpoint, status, body, changed)
            self.counts = after  # the next request's "before", unless something is accepted
        return status, body
