"""The Zendesk stand-in's state: users, tickets, comments, and the views of them that
tests assert on (see zendesk_standin.py; the API operations are in zendesk_standin_api.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

_STATUS_VIEW = {"new": "open", "hold": "pending", "closed": "solved"}


@dataclass
class StandInComment:
    body: str
    public: bool
    author_email: str | None
    id: int = 0
    html: bool = False
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass
class StandInTicket:
    """A ticket as deskhand sees it. ``comments`` are those after the first one, which is
    ``description`` (as text; ``description_public`` says if the customer could see it)."""

    id: str
    external_id: str | None
    subject: str
    description: str
    priority: str
    status: str
    assignee_email: str | None
    requester_email: str | None
    comments: list[StandInComment]
    metadata: dict[str, str]
    tags: list[str] = field(default_factory=list)
    description_public: bool = False
    requester_external_id: str | None = None


@dataclass
class _Comment:
    id: int
    body: str
    html: str | None
    public: bool
    author_id: int
    created_at: str
    custom: dict[str, str]


@dataclass
class _Ticket:
    id: int
    subject: str
    priority: str
    status: str
    requester_id: int
    assignee_id: int | None
    external_id: str | None
    tags: list[str]
    metadata: dict[str, str]
    created_at: str
    updated_at: str
    comments: list[_Comment] = field(default_factory=list)


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("br", "p", "li", "h4"):
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_text(markup: str) -> str:
    parser = _Text()
    parser.feed(markup)
    return "".join(parser.parts).strip()


class ZendeskState:
    def __init__(self, *, api_email: str) -> None:
        self.users: dict[int, dict[str, Any]] = {}
        self.tickets: dict[int, _Ticket] = {}
        self.reject_assignment = False
        # Idempotency-Key -> (payload digest, the answer given)
        self.idempotency: dict[str, tuple[str, tuple[int, Any, dict[str, str]]]] = {}
        self._ids = 1000
        self._clock = 1_700_000_000.0  # ticket times: strictly increasing seconds
        self.api_user = self.add_user(email=api_email, name="deskhand", role="admin")
        self.human_admin = self.add_user(email="admin@example.com", name="Ada Admin", role="admin")

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    def _now(self) -> str:
        self._clock += 1
        return iso(self._clock)

    # -- users --------------------------------------------------------------------------------

    def add_user(self, **fields: Any) -> dict[str, Any]:
        user = {"id": self._next_id(), "email": None, "external_id": None, "suspended": False}
        user |= {"role": "end-user", "url": ""} | fields
        self.users[user["id"]] = user
        return user

    def by_email(self, email: str) -> dict[str, Any] | None:
        wanted = email.lower()
        return next((u for u in self.users.values() if (u["email"] or "").lower() == wanted), None)

    def agent(self, email: str) -> dict[str, Any]:
        """An agent by e-mail; unknown ones are made (a human the test did not add)."""
        user = self.by_email(email)
        return user or self.add_user(email=email, name=email.split("@")[0], role="agent")

    # -- tickets ------------------------------------------------------------------------------

    def touch(self, ticket: _Ticket) -> None:
        ticket.updated_at = self._now()

    def add_comment(
        self,
        ticket: _Ticket,
        *,
        body: str,
        html: str | None,
        public: bool,
        author: dict[str, Any],
        custom: dict[str, str] | None = None,
    ) -> None:
        at = self._now()
        text = html_text(html) if html is not None else body
        ticket.comments.append(
            _Comment(self._next_id(), text, html, public, author["id"], at, custom or {})
        )
        ticket.updated_at = at

    def view(self, t: _Ticket) -> StandInTicket:
        def email(user_id: int | None) -> str | None:
            return None if user_id is None else self.users[user_id]["email"]

        first, *rest = t.comments
        comments = [
            StandInComment(c.body, c.public, email(c.author_id), c.id, c.html is not None, c.custom)
            for c in rest
        ]
        requester = self.users[t.requester_id]
        return StandInTicket(
            id=str(t.id),
            external_id=t.external_id,
            subject=t.subject,
            description=first.body,
            priority=t.priority,
            status=_STATUS_VIEW.get(t.status, t.status),
            assignee_email=email(t.assignee_id),
            requester_email=requester["email"],
            comments=comments,
            metadata=dict(t.metadata),
            tags=list(t.tags),
            description_public=first.public,
            requester_external_id=requester["external_id"],
        )

    def placeholders(self, ticket_id: int, updater: dict[str, Any] | None = None) -> dict[str, str]:
        """What Zendesk's placeholders render to for this ticket (empty if unknown)."""
        t = self.tickets.get(ticket_id)
        if t is None:
            return {"ticket.id": str(ticket_id)}
        assignee = self.users.get(t.assignee_id) if t.assignee_id else None
        latest = t.comments[-1]
        author = self.users[latest.author_id]
        current = updater or self.human_admin
        return {
            "ticket.id": str(t.id),
            "ticket.external_id": t.external_id or "",
            "ticket.status": t.status.capitalize(),  # Zendesk renders the display name
            "ticket.updated_at_with_timestamp": t.updated_at,
            "ticket.assignee.id": str(assignee["id"]) if assignee else "",
            "ticket.assignee.email": assignee["email"] if assignee else "",
            "ticket.assignee.name": assignee["name"] if assignee else "",
            "ticket.latest_comment.id": str(latest.id),
            "ticket.latest_comment.value": latest.body,
            "ticket.latest_comment.is_public": "true" if latest.public else "false",
            "ticket.latest_comment.author.id": str(author["id"]),
            "ticket.latest_comment.author.email": author["email"] or "",
            "ticket.latest_comment.author.name": author["name"],
            "current_user.id": str(current["id"]),
            "current_user.email": current["email"] or "",
        }

    def ticket_json(self, t: _Ticket) -> dict[str, Any]:
        return {
            "id": t.id,
            "url": f"/api/v2/tickets/{t.id}.json",
            "external_id": t.external_id,
            "subject": t.subject,
            "description": t.comments[0].body,
            "priority": t.priority,
            "status": t.status,
            "requester_id": t.requester_id,
            "assignee_id": t.assignee_id,
            "tags": t.tags,
            "created_at": t.created_at,
            "updated_at": t.updated_at,
        }
