"""Zendesk Support as deskhand's ticketing system (API token auth, trigger webhooks).

- A handoff becomes a ticket whose ``external_id`` is the idempotency key. Zendesk's spec
  declares no idempotency header, so create_ticket first looks the key up
  (``GET /api/v2/tickets?external_id=``); the POST also carries Zendesk's documented
  ``Idempotency-Key`` so the HTTP client's own retries of a lost answer replay, not repeat.
- The first comment is an internal note in ``html_body``: headings, lists and clickable
  evidence links read far better than plain text, every value is escaped, and it stays
  private so the customer is not e-mailed the bot's reasoning. Later comments (relayed from
  Slack, already plain text) go in ``body``.
- Comments are added with ``PUT /api/v2/tickets/{id}``; the idempotency key rides in the
  audit's custom metadata and is looked for among the newest comments before adding one.
- Two-way sync is by webhooks only (docs/zendesk.md), so ``changes_since`` returns nothing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import structlog

from integrations.errors import AssignmentRejected, NotFound, Rejected, Unavailable
from integrations.http import HttpClient
from integrations.ticketing.protocol import (
    Assignee,
    NewTicket,
    Requester,
    TicketChanges,
    TicketEvent,
    TicketRef,
    TicketStatus,
)
from integrations.ticketing.zendesk_format import (
    STATUS_TO_ZENDESK,
    DeskhandIdentity,
    audit_metadata,
    description_html,
    parse_payload,
    parse_webhook_body,
    ticket_tags,
    verify_webhook,
)

__all__ = ["ZendeskTicketing"]

log = structlog.get_logger(__name__)

_AGENT_ROLES = frozenset({"agent", "admin"})
_MISSING_AGENT_TTL = 60.0  # a newly added agent is found within a minute


class ZendeskTicketing:
    system = "zendesk"

    def __init__(
        self,
        http: HttpClient,
        *,
        url: str,
        email: str,
        api_token: str,
        webhook_secret: str | None = None,
        agent_cache_ttl: float = 300.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._base = url.rstrip("/")
        credentials = base64.b64encode(f"{email}/token:{api_token}".encode()).decode()
        self._headers = {"Authorization": f"Basic {credentials}", "Accept": "application/json"}
        self._webhook_secret = webhook_secret
        self._identity = DeskhandIdentity(email=email)
        self._agent_ttl = agent_cache_ttl
        self._monotonic = monotonic
        self._agents: dict[str, tuple[float, int | None]] = {}  # email -> (expires, user id)

    # -- Ticketing ----------------------------------------------------------------------------

    async def create_ticket(self, ticket: NewTicket, *, idempotency_key: str) -> TicketRef:
        await self.whoami()
        existing = await self._find_ticket(idempotency_key)
        if existing is not None:
            log.info("zendesk.ticket_exists", ticket_id=existing, key=idempotency_key)
            return self._ref(existing)
        fields: dict[str, Any] = {
            "subject": ticket.subject,
            "comment": {"html_body": description_html(ticket), "public": False},
            "priority": ticket.priority.value,  # Zendesk's names are deskhand's
            "requester_id": await self._requester_id(ticket.requester),
            "external_id": idempotency_key,
            "tags": ticket_tags(ticket),
            "metadata": {"custom": audit_metadata(ticket)},
        }
        if ticket.assignee is not None:
            fields["assignee_id"] = await self._agent_id(ticket.assignee)
        body = {"ticket": fields}
        # Zendesk refuses a reused key with another payload, so the key names the payload too.
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
        try:
            data = await self._call(
                "POST", "/api/v2/tickets", json=body, idempotency_key=f"{idempotency_key}:{digest}"
            )
        except Rejected as exc:
            if ticket.assignee is not None and _about_assignee(exc):
                raise self._assignment_refused(exc, ticket.assignee) from exc
            raise
        return self._ref(_ticket_id(data))

    async def assign(self, ticket_id: str, assignee: Assignee) -> None:
        agent_id = await self._agent_id(assignee)
        try:
            await self._update(ticket_id, {"assignee_id": agent_id})
        except NotFound:
            raise
        except Rejected as exc:
            raise self._assignment_refused(exc, assignee) from exc

    async def unassign(self, ticket_id: str) -> None:
        await self._update(ticket_id, {"assignee_id": None})

    async def add_comment(
        self, ticket_id: str, body: str, *, public: bool, author: str | None, idempotency_key: str
    ) -> None:
        if await self._comment_exists(ticket_id, idempotency_key):
            log.info("zendesk.comment_exists", ticket_id=ticket_id, key=idempotency_key)
            return
        custom = {"deskhand_key": idempotency_key}
        if author:
            custom["deskhand_author"] = author
        await self._update(
            ticket_id,
            {"comment": {"body": body, "public": public}, "metadata": {"custom": custom}},
        )

    async def set_status(self, ticket_id: str, status: TicketStatus) -> None:
        fields: dict[str, Any] = {"status": STATUS_TO_ZENDESK[status]}
        try:
            await self._update(ticket_id, fields)
        except NotFound:
            raise
        except Rejected as exc:
            # Zendesk solves only assigned tickets; an unassigned one is solved by deskhand.
            if status is not TicketStatus.SOLVED or not _about_assignee(exc):
                raise
            await self._update(ticket_id, {**fields, "assignee_id": int(await self.whoami())})

    # -- TicketSync ---------------------------------------------------------------------------

    def parse_webhook(
        self, headers: Mapping[str, str], body: bytes, *, now: float
    ) -> list[TicketEvent]:
        verify_webhook(self._webhook_secret, headers, body, now=now)
        return parse_payload(parse_webhook_body(body), self._identity)

    async def changes_since(self, cursor: str | None, *, limit: int) -> TicketChanges:
        # Zendesk's changes arrive by trigger webhooks; there is no feed to poll.
        return TicketChanges(events=(), cursor=cursor)

    # -- lookups ------------------------------------------------------------------------------

    async def whoami(self) -> str:
        """The API user's id (read once): checks the credentials and marks deskhand's own
        changes in webhooks."""
        if self._identity.user_id is None:
            data = await self._call("GET", "/api/v2/users/me")
            user_id = _user_field(data, "id")
            if user_id is None:
                raise Unavailable(self.system, "GET /api/v2/users/me: no user in the answer")
            self._identity = DeskhandIdentity(email=self._identity.email, user_id=str(user_id))
        assert self._identity.user_id is not None
        return self._identity.user_id

    async def _find_ticket(self, external_id: str) -> str | None:
        data = await self._call("GET", "/api/v2/tickets", params={"external_id": external_id})
        ids = [
            int(t["id"])
            for t in _list(data, "tickets")
            if str(t.get("external_id") or "") == external_id and str(t.get("id", "")).isdigit()
        ]
        return str(min(ids)) if ids else None  # the first one made wins

    async def _requester_id(self, requester: Requester) -> int:
        user: dict[str, Any] = {"skip_verify_email": True}  # no Zendesk e-mail to the customer
        if requester.email:
            user |= {"email": requester.email, "name": requester.name or requester.email}
        else:
            user |= {
                "external_id": requester.external_id,
                "name": requester.name or requester.external_id,
            }
        # No "role": an existing user (maybe an agent) keeps theirs; new ones are end users.
        data = await self._call("POST", "/api/v2/users/create_or_update", json={"user": user})
        user_id = _user_field(data, "id")
        if user_id is None:
            raise Unavailable(self.system, "users/create_or_update: no user id in the answer")
        return int(user_id)

    async def _agent_id(self, assignee: Assignee) -> int:
        if not assignee.email:
            raise AssignmentRejected(
                self.system,
                f"cannot assign to Slack user {assignee.slack_user_id}: no e-mail to find "
                "their Zendesk agent by",
                status=422,
            )
        email = assignee.email.strip().lower()
        now = self._monotonic()
        cached = self._agents.get(email)
        if cached is not None and cached[0] > now:
            agent_id = cached[1]
        else:
            data = await self._call(
                "GET", "/api/v2/users/search", params={"query": f"email:{email}"}
            )
            agent_id = next(
                (
                    int(u["id"])
                    for u in _list(data, "users")
                    if str(u.get("email") or "").lower() == email
                    and u.get("role") in _AGENT_ROLES
                    and not u.get("suspended")
                ),
                None,
            )
            ttl = self._agent_ttl if agent_id is not None else _MISSING_AGENT_TTL
            self._agents[email] = (now + ttl, agent_id)
        if agent_id is None:
            raise AssignmentRejected(
                self.system, f"cannot assign: {email} is not a Zendesk agent", status=422
            )
        return agent_id

    async def _comment_exists(self, ticket_id: str, key: str) -> bool:
        data = await self._call(
            "GET", f"/api/v2/tickets/{_checked(ticket_id)}/comments", params={"sort_order": "desc"}
        )
        for comment in _list(data, "comments"):
            metadata = comment.get("metadata")
            custom = metadata.get("custom") if isinstance(metadata, dict) else None
            if isinstance(custom, dict) and custom.get("deskhand_key") == key:
                return True
        return False

    # -- plumbing -----------------------------------------------------------------------------

    async def _update(self, ticket_id: str, fields: dict[str, Any]) -> None:
        await self._call("PUT", f"/api/v2/tickets/{_checked(ticket_id)}", json={"ticket": fields})

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        response = await self._http.request(
            method,
            self._base + path,
            system=self.system,
            json=json,
            params=params,
            headers=self._headers,
            idempotency_key=idempotency_key,
            # A comment is added by a PUT that Zendesk has no key for: after a timeout the
            # caller looks for it before trying again (creates carry Idempotency-Key).
            resend_on_doubt=not (
                method == "PUT" and isinstance(json, dict) and "comment" in json.get("ticket", {})
            ),
        )
        if not response.body:
            return {}
        try:
            return response.json()
        except ValueError as exc:
            raise Unavailable(self.system, f"{method} {path}: the answer is not JSON") from exc

    def _ref(self, ticket_id: str) -> TicketRef:
        return TicketRef(self.system, ticket_id, f"{self._base}/agent/tickets/{ticket_id}")

    def _assignment_refused(self, exc: Rejected, assignee: Assignee) -> Rejected:
        who = assignee.email or assignee.slack_user_id
        return AssignmentRejected(
            self.system,
            f"assignment to {who} refused by Zendesk: {exc.message}",
            status=exc.status,
            body=exc.body,
        )


def _checked(ticket_id: str) -> str:
    # Zendesk ticket ids are numbers; anything else cannot name a ticket.
    if not ticket_id.isdigit():
        raise NotFound("zendesk", f"no Zendesk ticket {ticket_id!r}", status=404)
    return ticket_id


def _about_assignee(exc: Rejected) -> bool:
    """A 422 whose validation details are about the assignee (Zendesk's RecordInvalid)."""
    return exc.status == 422 and "assignee" in exc.body.lower()


def _list(data: Any, key: str) -> list[dict[str, Any]]:
    items = data.get(key) if isinstance(data, dict) else None
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def _user_field(data: Any, key: str) -> Any:
    user = data.get("user") if isinstance(data, dict) else None
    return user.get(key) if isinstance(user, dict) else None


def _ticket_id(data: Any) -> str:
    ticket = data.get("ticket") if isinstance(data, dict) else None
    ticket_id = ticket.get("id") if isinstance(ticket, dict) else None
    if ticket_id is None:
        raise Unavailable("zendesk", "POST /api/v2/tickets: no ticket id in the answer")
    return str(ticket_id)
