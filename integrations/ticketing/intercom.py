"""Intercom tickets (REST API 2.16) as deskhand's ticketing system, and its webhooks.

Tickets are made with ``POST /tickets`` for the customer's contact (found by external id or
email, else created), in one ticket type (configured, or discovered through
``GET /ticket_types``), acting as one admin (configured, or ``GET /me``). Assignment,
unassignment and state changes use ``PUT /tickets/{id}``; comments and notes
``POST /tickets/{id}/reply``. Nothing is polled: two-way sync is by webhooks.

Never twice: Intercom has no idempotency header, so every create first looks for a ticket
already made with the key (``POST /tickets/search``, see ``_find``), and a reply is skipped
when the ticket's latest reply or note is deskhand's with the same text.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
from collections.abc import Mapping
from typing import Any

import structlog

from integrations.errors import AssignmentRejected, Conflict, NotFound, Rejected, Unavailable
from integrations.http import HttpClient
from integrations.ticketing import intercom_format as fmt
from integrations.ticketing import intercom_webhooks as webhooks
from integrations.ticketing.protocol import (
    Assignee,
    NewTicket,
    Requester,
    TicketChanges,
    TicketEvent,
    TicketRef,
    TicketStatus,
    WebhookRefused,
)

__all__ = ["API_VERSION", "IntercomTicketing"]

API_VERSION = "2.16"  # pinned: without the header the workspace's default version applies
log = structlog.get_logger(__name__)


class IntercomTicketing:
    system = "intercom"

    def __init__(
        self,
        http: HttpClient,
        *,
        url: str = "https://api.intercom.io",
        access_token: str,
        ticket_type_id: str | None = None,
        admin_id: str | None = None,
        client_secret: str | None = None,
    ) -> None:
        self._http = http
        self._url = url.rstrip("/")
        self._headers = {
            "Authorization": f"Bearer {access_token}",
            "Intercom-Version": API_VERSION,
            "Accept": "application/json",
        }
        self._ticket_type_id = ticket_type_id
        self._admin_id = admin_id
        self._client_secret = client_secret
        self._type: fmt.TicketType | None = None
        self._admin_emails: dict[str, str] = {}  # admin id -> email, for webhook assignees
        self._discovery = asyncio.Lock()

    # -- discovery -------------------------------------------------------------------

    async def prepare(self) -> None:
        """Discover the ticket type, deskhand's admin and the admins' emails now, so that
        webhooks can be parsed from the start (call once at start-up; safe to repeat)."""
        await self._ticket_type()
        await self._me()
        await self._admins()

    async def _ticket_type(self) -> fmt.TicketType:
        async with self._discovery:
            if self._type is None:
                types = fmt.parse_ticket_types(await self._call("GET", "/ticket_types"))
                chosen = fmt.choose_ticket_type(types, self._ticket_type_id)
                if chosen is None:
                    wanted = self._ticket_type_id or "any"
                    raise Rejected(self.system, f"no Intercom ticket type ({wanted})", status=404)
                if chosen.text_attribute(fmt.KEY_ATTRIBUTE) is None:
                    log.warning("intercom.no_key_attribute", ticket_type=chosen.id)
                self._type = chosen
            return self._type

    async def _me(self) -> str:
        async with self._discovery:
            if self._admin_id is None:
                me = await self._call("GET", "/me")
                self._admin_id = str(me["id"])
            return self._admin_id

    async def _admins(self) -> dict[str, str]:
        """Every admin's email by id (fetched each time: teammates come and go)."""
        body = await self._call("GET", "/admins")
        emails = {str(a["id"]): a["email"] for a in body.get("admins") or [] if a.get("email")}
        self._admin_emails = emails
        return emails

    async def _admin_for(self, assignee: Assignee) -> str:
        if not assignee.email:
            raise AssignmentRejected(
                self.system, f"assignment: agent {assignee.slack_user_id} has no email", status=422
            )
        wanted = assignee.email.strip().lower()
        for admin_id, email in (await self._admins()).items():
            if email.strip().lower() == wanted:
                return admin_id
        raise AssignmentRejected(
            self.system, f"assignment: no Intercom admin {assignee.email}", status=422
        )

    # -- Ticketing -------------------------------------------------------------------

    async def create_ticket(self, ticket: NewTicket, *, idempotency_key: str) -> TicketRef:
        kind = await self._ticket_type()
        await self._me()  # known early, so that webhooks about this ticket can be read
        found = await self._find(kind, idempotency_key)
        if found is not None:
            log.info("intercom.ticket_found", ticket_id=found["id"])
            return TicketRef(self.system, str(found["id"]))
        body: dict[str, Any] = {
            "ticket_type_id": kind.id,
            "contacts": [await self._contact(ticket.requester)],
            "ticket_attributes": fmt.ticket_attributes(ticket, idempotency_key, kind),
        }
        if ticket.assignee is None:
            created = await self._call("POST", "/tickets", json=body)
            return TicketRef(self.system, str(created["id"]))
        # One call: a refused assignment then creates nothing, and the caller's retry
        # without the assignee cannot meet a half-made ticket the search has not indexed.
        body["assignment"] = {"admin_assignee_id": await self._admin_for(ticket.assignee)}
        try:
            created = await self._call("POST", "/tickets", json=body)
        except NotFound:
            raise  # not about the assignee (e.g. the contact vanished)
        except Rejected as exc:
            raise AssignmentRejected(
                self.system,
                f"assignment: creating the ticket assigned to {ticket.assignee.email} was "
                f"refused (HTTP {exc.status} {_codes(exc.body)}); create it unassigned",
                status=exc.status,
                body=exc.body,
            ) from exc
        return TicketRef(self.system, str(created["id"]))

    async def _find(self, kind: fmt.TicketType, key: str) -> dict[str, Any] | None:
        # The trimmed 2.16 spec has no lookup of a ticket by anything but its id; the
        # upstream 2.16 API has POST /tickets/search. The key goes in a ``deskhand_key``
        # text attribute when the ticket type has one (exact, searchable) and always in the
        # description's last lines (searched with "contains" when there is no attribute).
        # Contact external_id names the customer, not the handoff, so it cannot be the key.
        hits = await self._call("POST", "/tickets/search", json=fmt.key_search(kind, key))
        return next((t for t in hits.get("tickets") or [] if fmt.carries_key(t, key)), None)

    async def _contact(self, requester: Requester) -> dict[str, str]:
        """A reference to the customer's contact: found by external id (or email), else
        created with both. ``contacts`` takes exactly one identifier."""
        by_id = {"field": "external_id", "operator": "=", "value": requester.external_id}
        query: dict[str, Any] = by_id
        if requester.email:
            by_email = {"field": "email", "operator": "=", "value": requester.email}
            query = {"operator": "OR", "value": [by_id, by_email]}
        hits = (await self._call("POST", "/contacts/search", json={"query": query})).get("data")
        ranked = sorted(hits or [], key=lambda c: c.get("external_id") != requester.external_id)
        if ranked:
            return {"id": str(ranked[0]["id"])}
        new = {"role": "user", "external_id": requester.external_id}
        new |= {k: v for k, v in (("email", requester.email), ("name", requester.name)) if v}
        try:
            return {"id": str((await self._call("POST", "/contacts", json=new))["id"])}
        except Conflict:
            # It exists but search has not indexed it yet: let Intercom resolve it.
            if requester.email:
                return {"email": requester.email}
            return {"external_id": requester.external_id}

    async def assign(self, ticket_id: str, assignee: Assignee) -> None:
        admin = await self._admin_for(assignee)
        await self._update(ticket_id, {"assignee_id": admin}, f"assignment to {assignee.email}")

    async def unassign(self, ticket_id: str) -> None:
        await self._update(ticket_id, {"assignee_id": "0"}, "unassignment")

    async def set_status(self, ticket_id: str, status: TicketStatus) -> None:
        state = (await self._ticket_type()).states.get(fmt.STATE_CATEGORY[status])
        change = {"ticket_state_id": state} if state else {"open": status != TicketStatus.SOLVED}
        await self._update(ticket_id, change, f"status {status.value}")

    async def _update(self, ticket_id: str, change: dict[str, Any], what: str) -> None:
        me = await self._me()
        body = dict(change)
        if me.isdigit():  # the spec types this admin_id as an integer, unlike every other
            body["admin_id"] = int(me)
        try:
            await self._call("PUT", f"/tickets/{ticket_id}", json=body)
        except NotFound:
            raise
        except Rejected as exc:
            refused = AssignmentRejected if "assign" in what else Rejected
            raise refused(
                self.system,
                f"{what} of ticket {ticket_id} was refused (HTTP {exc.status} {_codes(exc.body)})",
                status=exc.status,
                body=exc.body,
            ) from exc

    async def add_comment(
        self, ticket_id: str, body: str, *, public: bool, author: str | None, idempotency_key: str
    ) -> None:
        me = await self._me()
        text = body if public or not author else f"{body}\n\n— {author} (via deskhand)"
        part_type = "comment" if public else "note"
        current = await self._call("GET", f"/tickets/{ticket_id}")
        if _already_posted(current, part_type, me, text):
            log.info("intercom.reply_exists", ticket_id=ticket_id, key=idempotency_key)
            return
        reply = {"message_type": part_type, "type": "admin", "admin_id": me}
        reply["body"] = fmt.text_to_html(text)
        await self._call("POST", f"/tickets/{ticket_id}/reply", json=reply)

    # -- TicketSync ------------------------------------------------------------------

    def parse_webhook(
        self, headers: Mapping[str, str], body: bytes, *, now: float
    ) -> list[TicketEvent]:
        # ``now`` is unused: Intercom signs no timestamp, and a notification retried late is
        # harmless because its event_id (the part id) is the same as the first time.
        webhooks.verify_signature(self._client_secret, headers, body)
        payload = webhooks.load_notification(body)
        if self._admin_id is None:
            # Without it deskhand's own changes would echo; Intercom retries a 503 later.
            raise WebhookRefused(503, "not_ready", "deskhand's Intercom admin is not known yet")
        return webhooks.notification_events(payload, self._admin_id, self._admin_emails)

    async def changes_since(self, cursor: str | None, *, limit: int) -> TicketChanges:
        return TicketChanges(events=(), cursor=cursor)  # Intercom has no change feed

    # -- HTTP ------------------------------------------------------------------------

    async def _call(self, method: str, path: str, *, json: Any = None) -> Any:
        # Creating a ticket, contact or reply twice is not harmless, and Intercom has no
        # idempotency key: after a timeout the caller looks before it tries again.
        creates = method == "POST" and not path.endswith("/search")
        response = await self._http.request(
            method,
            f"{self._url}{path}",
            system=self.system,
            json=json,
            headers=self._headers,
            resend_on_doubt=not creates,
        )
        if not response.body:
            return {}
        try:
            return response.json()
        except ValueError as exc:
            raise Unavailable(self.system, f"{method} {path}: answer is not JSON") from exc


def _already_posted(ticket: Mapping[str, Any], part_type: str, admin: str, text: str) -> bool:
    """Whether the ticket's latest reply or note is this one by deskhand's admin: a retry
    whose first answer was lost. Anything said since makes the same text a new message."""
    parts = (ticket.get("ticket_parts") or {}).get("ticket_parts") or []
    said = [p for p in parts if p.get("part_type") in ("comment", "note")]
    if not said:
        return False
    last = said[-1]
    return (
        last.get("part_type") == part_type
        and str((last.get("author") or {}).get("id")) == admin
        and fmt.html_to_text(last.get("body") or "") == fmt.html_to_text(fmt.text_to_html(text))
    )


def _codes(body: str) -> str:
    """The error codes of an Intercom error.list body (never the whole body)."""
    try:
        errors = jsonlib.loads(body).get("errors") or []
        return ",".join(str(e.get("code")) for e in errors if isinstance(e, dict)) or "-"
    except (ValueError, AttributeError):
        return "-"
