"""The Zendesk stand-in's API operations on its state (see zendesk_standin.py)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from tests.support.zendesk_standin_state import ZendeskState, _Comment, _Ticket

Answer = tuple[int, Any, dict[str, str]]
_TICKET = re.compile(r"^/api/v2/tickets/(\d+)$")
_COMMENTS = re.compile(r"^/api/v2/tickets/(\d+)/comments$")
_NOT_FOUND: Answer = (404, {"error": "RecordNotFound", "description": "Not found"}, {})


def _invalid(field_name: str, description: str) -> Answer:
    details = {field_name: [{"description": description, "error": "InvalidValue"}]}
    payload = {
        "error": "RecordInvalid",
        "description": "Record validation errors",
        "details": details,
    }
    return 422, payload, {}


class ZendeskApi(ZendeskState):
    """Answers (status, JSON payload, headers) the way Zendesk does."""

    def handle(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        body: Any,
        headers: Mapping[str, str],
    ) -> Answer:
        me = self.api_user
        if method == "GET" and path == "/api/v2/users/me":
            return 200, {"user": me}, {}
        if method == "GET" and path == "/api/v2/users/search":
            return 200, {"users": self._search(query)}, {}
        if method == "POST" and path == "/api/v2/users/create_or_update":
            return self._create_or_update((body or {}).get("user") or {})
        if method == "GET" and path == "/api/v2/tickets":
            wanted = query.get("external_id")
            found = [self.ticket_json(t) for t in self.tickets.values()]
            found = [t for t in found if wanted is None or t["external_id"] == wanted]
            return 200, {"tickets": found, "count": len(found)}, {}
        if method == "POST" and path == "/api/v2/tickets":
            return self._idempotent(headers.get("Idempotency-Key"), body)
        if match := _TICKET.match(path):
            ticket = self.tickets.get(int(match.group(1)))
            if ticket is None:
                return _NOT_FOUND
            if method == "GET":
                return 200, {"ticket": self.ticket_json(ticket)}, {}
            return self._update(ticket, (body or {}).get("ticket") or {}, me)
        if (match := _COMMENTS.match(path)) and method == "GET":
            ticket = self.tickets.get(int(match.group(1)))
            if ticket is None:
                return _NOT_FOUND
            comments = [self._comment_json(c) for c in ticket.comments]
            if query.get("sort_order") == "desc":
                comments.reverse()
            return 200, {"comments": comments, "count": len(comments)}, {}
        return 404, {"error": "InvalidEndpoint", "description": "Not found"}, {}

    def _search(self, query: Mapping[str, str]) -> list[dict[str, Any]]:
        if "external_id" in query:
            return [u for u in self.users.values() if u["external_id"] == query["external_id"]]
        text = query.get("query", "").strip().strip('"').lower()
        if text.startswith("email:"):
            email = text.removeprefix("email:").strip('"')
            return [u for u in self.users.values() if (u["email"] or "").lower() == email]
        return [
            u
            for u in self.users.values()
            if text in (u["email"] or "").lower() or text in u["name"].lower()
        ]

    def _create_or_update(self, fields: dict[str, Any]) -> Answer:
        user = self.by_email(fields["email"]) if fields.get("email") else None
        if user is None and fields.get("external_id"):
            wanted = str(fields["external_id"]).lower()
            user = next(
                (u for u in self.users.values() if (u["external_id"] or "").lower() == wanted),
                None,
            )
        keep = {k: v for k, v in fields.items() if k in ("name", "email", "external_id", "role")}
        if user is not None:
            user |= keep
            return 200, {"user": user}, {"Location": f"/api/v2/users/{user['id']}.json"}
        user = self.add_user(**keep)
        return 201, {"user": user}, {"Location": f"/api/v2/users/{user['id']}.json"}

    def _idempotent(self, key: str | None, body: Any) -> Answer:
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        if key is not None and key in self.idempotency:
            seen, answer = self.idempotency[key]
            if seen != digest:
                error = {"error": "IdempotentRequestError", "description": "Key reused"}
                return 400, error, {}
            return answer[0], answer[1], {**answer[2], "x-idempotency-lookup": "hit"}
        fields = (body or {}).get("ticket") or {}
        if "comment" not in fields:
            return _invalid("comment", "A ticket needs a first comment")
        answer = self._create(fields)
        if key is not None and answer[0] < 300:
            self.idempotency[key] = (digest, answer)
        return answer

    def _assignee(self, fields: dict[str, Any]) -> tuple[int | None, Answer | None]:
        """The agent id a create/update asks for, or the 422 Zendesk gives."""
        agent_id = fields.get("assignee_id")
        if agent_id is None:
            return None, None
        user = self.users.get(agent_id)
        if self.reject_assignment or user is None or user["role"] not in ("agent", "admin"):
            return None, _invalid("assignee", "Assignee is not an agent who may be assigned")
        return agent_id, None

    def _create(self, fields: dict[str, Any]) -> Answer:
        agent_id, refused = self._assignee(fields)
        if refused is not None:
            return refused
        requester_id = fields.get("requester_id", self.api_user["id"])
        if requester_id not in self.users:
            return _invalid("requester", "Requester is invalid")
        at = self._now()
        ticket = _Ticket(
            id=len(self.tickets) + 1,
            subject=fields.get("subject", ""),
            priority=fields.get("priority", "normal"),
            status=fields.get("status", "open" if agent_id else "new"),
            requester_id=requester_id,
            assignee_id=agent_id,
            external_id=fields.get("external_id"),
            tags=sorted(set(fields.get("tags", []))),
            metadata=dict((fields.get("metadata") or {}).get("custom") or {}),
            created_at=at,
            updated_at=at,
        )
        comment = fields["comment"]
        self.add_comment(
            ticket,
            body=comment.get("body", ""),
            html=comment.get("html_body"),
            public=comment.get("public", True),
            author=self.api_user,
            custom=ticket.metadata,
        )
        self.tickets[ticket.id] = ticket
        payload = {"ticket": self.ticket_json(ticket), "audit": {"ticket_id": ticket.id}}
        return 201, payload, {"Location": f"/api/v2/tickets/{ticket.id}.json"}

    def _update(self, ticket: _Ticket, fields: dict[str, Any], me: dict[str, Any]) -> Answer:
        assignee_id = ticket.assignee_id
        if "assignee_id" in fields:
            assignee_id, refused = self._assignee(fields)
            if refused is not None:
                return refused
        status = fields.get("status", ticket.status)
        if status in ("solved", "closed") and assignee_id is None:
            return _invalid("status", "Status: solved needs an assignee on the ticket")
        ticket.assignee_id, ticket.status = assignee_id, status
        custom = dict((fields.get("metadata") or {}).get("custom") or {})
        if "comment" in fields:
            comment = fields["comment"]
            self.add_comment(
                ticket,
                body=comment.get("body", ""),
                html=comment.get("html_body"),
                public=comment.get("public", True),
                author=me,
                custom=custom,
            )
        else:
            self.touch(ticket)
        return 200, {"ticket": self.ticket_json(ticket), "audit": {"ticket_id": ticket.id}}, {}

    def _comment_json(self, c: _Comment) -> dict[str, Any]:
        return {
            "id": c.id,
            "type": "Comment",
            "author_id": c.author_id,
            "body": c.body,
            "plain_body": c.body,
            "html_body": c.html or c.body,
            "public": c.public,
            "created_at": c.created_at,
            "metadata": {"system": {}, "custom": c.custom},
        }
