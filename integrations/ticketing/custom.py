"""A team's own ticketing system, spoken to through deskhand's published contract
(docs/custom-ticketing.openapi.yaml; the guide is docs/custom-ticketing.md).

Idempotency rests on the system: ``POST /tickets`` and comments carry ``Idempotency-Key``
and the system answers a repeat with the first result. Events come both as signed webhooks
and from the ``/tickets/changes`` feed, with the same event ids either way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import structlog

from integrations import verification
from integrations.errors import AssignmentRejected, Conflict, Rejected, Unavailable
from integrations.http import HttpClient, HttpResponse
from integrations.ticketing.custom_format import (
    ASSIGNMENT_ERRORS,
    SYSTEM,
    WEBHOOK_SIGNATURE,
    MalformedEvent,
    error_code,
    parse_event,
    ticket_body,
)
from integrations.ticketing.protocol import (
    Assignee,
    NewTicket,
    TicketChanges,
    TicketEvent,
    TicketRef,
    TicketStatus,
    WebhookRefused,
)

__all__ = ["CustomTicketing"]

log = structlog.get_logger(__name__)

MAX_PAGE = 500  # the contract's largest ``limit``


class CustomTicketing:
    system = SYSTEM

    def __init__(
        self, http: HttpClient, *, url: str, token: str, webhook_secret: str | None = None
    ) -> None:
        self._http = http
        self._base = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self._webhook_secret = webhook_secret

    # -- Ticketing ---------------------------------------------------------------------

    async def create_ticket(self, ticket: NewTicket, *, idempotency_key: str) -> TicketRef:
        if ticket.assignee is not None and not ticket.assignee.email:
            raise _no_email(ticket.assignee)
        try:
            response = await self._call(
                "POST", "/tickets", json=ticket_body(ticket), idempotency_key=idempotency_key
            )
        except Rejected as exc:
            _raise_assignment_error(exc, ticket.assignee)
            raise
        created = _json(response)
        if not isinstance(created.get("id"), str | int):
            raise Unavailable(self.system, "POST /tickets answered without a ticket id")
        log.debug(
            "custom_ticketing.created",
            ticket_id=created["id"],
            repeat=response.status == 200,
            handoff_id=ticket.handoff_id,
        )
        return TicketRef(system=self.system, id=str(created["id"]), url=created.get("url"))

    async def assign(self, ticket_id: str, assignee: Assignee) -> None:
        if not assignee.email:
            raise _no_email(assignee)
        try:
            await self._call(
                "PATCH", _ticket_path(ticket_id), json={"assignee_email": assignee.email}
            )
        except Rejected as exc:
            _raise_assignment_error(exc, assignee)
            raise

    async def unassign(self, ticket_id: str) -> None:
        await self._call("PATCH", _ticket_path(ticket_id), json={"assignee_email": None})

    async def set_status(self, ticket_id: str, status: TicketStatus) -> None:
        await self._call("PATCH", _ticket_path(ticket_id), json={"status": status.value})

    async def add_comment(
        self, ticket_id: str, body: str, *, public: bool, author: str | None, idempotency_key: str
    ) -> None:
        payload: dict[str, Any] = {"body": body, "public": public}
        if author:
            payload["author"] = {"name": author}
        await self._call(
            "POST",
            _ticket_path(ticket_id) + "/comments",
            json=payload,
            idempotency_key=idempotency_key,
        )

    async def get_ticket(self, ticket_id: str) -> dict[str, Any]:
        """The contract's ``Ticket`` as the system returns it."""
        response = await self._call("GET", _ticket_path(ticket_id))
        return _json(response)

    # -- TicketSync --------------------------------------------------------------------

    def parse_webhook(
        self, headers: Mapping[str, str], body: bytes, *, now: float
    ) -> list[TicketEvent]:
        secret = verification.require_secret(
            self._webhook_secret, "The custom ticketing webhook secret"
        )
        WEBHOOK_SIGNATURE.verify(secret, headers, body, now=now)
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):
            raise WebhookRefused(422, "invalid_json", "the body is not JSON") from None
        raw_events = payload.get("events") if isinstance(payload, dict) else None
        if not isinstance(raw_events, list):
            raise WebhookRefused(422, "invalid_payload", "the body has no events list")
        try:
            parsed = [parse_event(raw) for raw in raw_events]
        except MalformedEvent as exc:
            raise WebhookRefused(422, "invalid_payload", str(exc)) from None
        return [event for event in parsed if event is not None]

    async def changes_since(self, cursor: str | None, *, limit: int) -> TicketChanges:
        params = {"limit": str(max(1, min(limit, MAX_PAGE)))}
        if cursor:
            params["since"] = cursor
        page = _json(await self._call("GET", "/tickets/changes", params=params))
        events: list[TicketEvent] = []
        for raw in page.get("events") or []:
            try:
                event = parse_event(raw)
            except MalformedEvent as exc:
                # A feed cannot be refused: skip the bad event so polling still progresses.
                log.warning("custom_ticketing.bad_event", error=str(exc))
                continue
            if event is not None:
                events.append(event)
        next_cursor = page.get("next_cursor")
        moved = isinstance(next_cursor, str) and next_cursor and next_cursor != cursor
        return TicketChanges(events=tuple(events), cursor=next_cursor if moved else None)

    # -- plumbing ----------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> HttpResponse:
        try:
            return await self._http.request(
                method,
                self._base + path,
                system=self.system,
                json=json,
                params=params,
                headers=self._headers,
                idempotency_key=idempotency_key,
            )
        except Conflict as exc:
            # The only 409 in the contract: the same Idempotency-Key is still being
            # processed. Trying again later gets the first result, so it is transient.
            raise Unavailable(self.system, f"{exc.message} (request still in progress)") from exc


def _json(response: HttpResponse) -> dict[str, Any]:
    """The JSON object of a 2xx answer; anything else (a proxy's HTML page) counts as the
    system being unavailable, so the caller retries later instead of failing for good."""
    try:
        parsed = response.json()
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise Unavailable(SYSTEM, f"HTTP {response.status} answer is not a JSON object")
    return parsed


def _ticket_path(ticket_id: str) -> str:
    return "/tickets/" + quote(ticket_id, safe="")


def _no_email(assignee: Assignee) -> Rejected:
    return AssignmentRejected(
        SYSTEM,
        f"assignment rejected: agent {assignee.slack_user_id} has no email to assign by",
        status=422,
    )


def _raise_assignment_error(exc: Rejected, assignee: Assignee | None) -> None:
    """Re-raise an assignment refusal as a Rejected that names it; return for anything else."""
    code = error_code(exc.body)
    if assignee is not None and code in ASSIGNMENT_ERRORS:
        raise AssignmentRejected(
            SYSTEM,
            f"assignment rejected ({code}): {assignee.email}",
            status=exc.status,
            body=exc.body,
        ) from exc
