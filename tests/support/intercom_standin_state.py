"""What the Intercom stand-in (tests/support/intercom_standin.py) knows and does: admins,
contacts, ticket types and tickets in Intercom's own JSON shapes, and the API operations
deskhand uses, each answering ``(status, body)`` the way Intercom does."""

from __future__ import annotations

import copy
import itertools
import re
import time
from collections.abc import Callable
from typing import Any

from integrations.ticketing.intercom_format import html_to_text
from tests.support.intercom_standin_spec import matches

Json = dict[str, Any]
Answer = tuple[int, Any]
DESKHAND_ADMIN_ID = "991200001"
DESKHAND_EMAIL = "deskhand@standin.example"
APP_CODE = "deskhand-standin"  # app_package_code of parts made through the API
PRIORITY_OPTIONS = {p: f"opt-{p}" for p in ("low", "normal", "high", "urgent")}
# The attributes a ticket type prepared as docs/intercom.md describes has.
DESKHAND_ATTRIBUTES = ("deskhand_key", "deskhand_conversation_id", "deskhand_handoff_id")
METADATA_ATTRIBUTES = ("deskhand_reference", "handoff_reason", "fallback_reason")
CATEGORY_STATUS = {"submitted": "open", "in_progress": "open"} | {
    "waiting_on_customer": "pending",
    "resolved": "solved",
}
ASSIGNMENT_REFUSED = "Teammate can't be assigned"


def error(status: int, code: str, message: str) -> Answer:
    return status, {"type": "error.list", "errors": [{"code": code, "message": message}]}


def _attribute(attr_id: str, name: str, data_type: str = "string", options: Any = None) -> Json:
    return {
        "type": "ticket_type_attribute",
        "id": attr_id,
        "name": name,
        "data_type": data_type,
        "input_options": {"list_options": options} if options else None,
        "default": name.startswith("_default_"),
        "archived": False,
    }


def _ticket_type(type_id: str, name: str, extra: list[Json], state_base: int) -> Json:
    attributes = [_attribute(f"{type_id}1", "_default_title_")]
    attributes.append(_attribute(f"{type_id}2", "_default_description_"))
    states = [
        {"type": "ticket_state", "id": str(state_base + n), "category": category}
        | {"internal_label": category, "external_label": category}
        for n, category in enumerate(CATEGORY_STATUS)
    ]
    return {
        "type": "ticket_type",
        "id": type_id,
        "name": name,
        "category": "Customer",
        "archived": False,
        "ticket_type_attributes": {"type": "list", "data": attributes + extra},
        "ticket_states": {"type": "list", "data": states},
    }


class IntercomState:
    def __init__(self, *, reject_assignment: Callable[[], bool]) -> None:
        self._refuse = reject_assignment
        self._ids = itertools.count(1)
        self.admins: dict[str, Json] = {}
        self.contacts: dict[str, Json] = {}
        self.tickets: dict[str, Json] = {}
        self.changes: list[tuple[str, Json]] = []  # (topic, ticket snapshot) to notify
        options = [{"id": v, "label": k.title()} for k, v in PRIORITY_OPTIONS.items()]
        handoff_attrs = [_attribute("423", "priority", "list", options)]
        handoff_attrs += [
            _attribute(f"42{4 + n}", a)
            for n, a in enumerate(DESKHAND_ATTRIBUTES + METADATA_ATTRIBUTES)
        ]
        # A plain type first, so discovery must prefer the one prepared for deskhand.
        self.types = [
            _ticket_type("41", "Bug report", [], 8100),
            _ticket_type("42", "Deskhand handoff", handoff_attrs, 8200),
        ]
        self.add_admin("deskhand", DESKHAND_EMAIL, DESKHAND_ADMIN_ID)

    def next_id(self) -> int:
        return next(self._ids)

    def add_admin(self, name: str, email: str, admin_id: str | None = None) -> str:
        admin_id = admin_id or str(991200100 + self.next_id())
        self.admins[admin_id] = {"type": "admin", "id": admin_id, "name": name, "email": email}
        self.admins[admin_id] |= {"has_inbox_seat": True, "away_mode_enabled": False}
        return admin_id

    def admin_by_email(self, email: str) -> Json:
        for admin in self.admins.values():
            if admin["email"].lower() == email.lower():
                return admin
        admin_id = self.add_admin(email.split("@")[0], email)
        return self.admins[admin_id]

    # -- contacts -----------------------------------------------------------------------

    def create_contact(self, body: Json) -> Answer:
        for other in self.contacts.values():
            same_id = body.get("external_id") and other.get("external_id") == body["external_id"]
            if same_id or (body.get("email") and other.get("email") == body.get("email")):
                return error(
                    409,
                    "conflict",
                    f"A contact matching those details already exists with id={other['id']}",
                )
        contact_id = f"6762f2d81bb69f9f2193{self.next_id():04x}"
        contact = {"type": "contact", "id": contact_id, "role": body.get("role", "user")}
        contact |= {k: body.get(k) for k in ("external_id", "email", "name")}
        self.contacts[contact_id] = contact
        return 200, contact

    def search_contacts(self, body: Json) -> Answer:
        try:
            found = [c for c in self.contacts.values() if matches(body["query"], c.get)]
        except ValueError as exc:
            return error(400, "invalid_field", str(exc))
        return 200, {"type": "list", "data": found, "total_count": len(found)}

    # -- tickets ------------------------------------------------------------------------

    def type_of(self, ticket: Json) -> Json:
        return next(t for t in self.types if t["id"] == ticket["ticket_type"]["id"])

    def create_ticket(self, body: Json) -> Answer:
        kind = next((t for t in self.types if t["id"] == body["ticket_type_id"]), None)
        if kind is None:
            return error(400, "parameter_invalid", "Ticket type not found")
        if len(body["contacts"]) != 1:
            return error(400, "parameter_invalid", "Exactly one contact is allowed")
        contact = self._contact(body["contacts"][0])
        if contact is None:
            return error(404, "not_found", "User Not Found")
        attributes = body.get("ticket_attributes") or {}
        problem = _attribute_problem(kind, attributes)
        if problem:
            return error(400, "parameter_invalid", problem)
        assignee = (body.get("assignment") or {}).get("admin_assignee_id")
        if assignee is not None and (assignee not in self.admins or self._refuse()):
            return error(400, "parameter_invalid", ASSIGNMENT_REFUSED)
        number = self.next_id()
        now = int(time.time())
        ticket = {
            "type": "ticket",
            "id": str(600 + number),
            "ticket_id": str(number),
            "category": "Customer",
            "ticket_attributes": dict(attributes),
            "ticket_state": kind["ticket_states"]["data"][0],
            "ticket_type": {"type": "ticket_type", "id": kind["id"], "name": kind["name"]},
            "contacts": {"type": "contact.list", "contacts": [_contact_ref(contact)]},
            "admin_assignee_id": 0,
            "team_assignee_id": 0,
            "created_at": now,
            "updated_at": now,
            "open": True,
            "ticket_parts": {"type": "ticket_part.list", "ticket_parts": [], "total_count": 0},
            "is_shared": True,
        }
        self.tickets[ticket["id"]] = ticket
        self.changes.append(("ticket.created", copy.deepcopy(ticket)))
        if assignee is not None:
            self.assign(ticket, self.admins[assignee], self.admins[DESKHAND_ADMIN_ID], api=True)
        return 200, ticket

    def update_ticket(self, ticket: Json, body: Json) -> Answer:
        actor = self.admins.get(str(body.get("admin_id", DESKHAND_ADMIN_ID)))
        if actor is None:
            return error(400, "parameter_invalid", "Admin not found")
        if "ticket_attributes" in body:
            problem = _attribute_problem(self.type_of(ticket), body["ticket_attributes"])
            if problem:
                return error(400, "parameter_invalid", problem)
            ticket["ticket_attributes"].update(body["ticket_attributes"])
        if "assignee_id" in body:
            target = str(body["assignee_id"])
            if target != "0" and (target not in self.admins or self._refuse()):
                return error(400, "parameter_invalid", ASSIGNMENT_REFUSED)
            self.assign(ticket, self.admins.get(target), actor, api=True)
        states = self.type_of(ticket)["ticket_states"]["data"]
        if "ticket_state_id" in body:
            state = next((s for s in states if s["id"] == body["ticket_state_id"]), None)
            if state is None:
                return error(400, "parameter_invalid", "Ticket state not in ticket type")
            self.set_state(ticket, state["category"], actor, api=True)
        elif "open" in body:
            self.set_state(ticket, "in_progress" if body["open"] else "resolved", actor, api=True)
        return 200, ticket

    def reply(self, ticket: Json, body: Json) -> Answer:
        if body.get("type") != "admin":
            return error(400, "parameter_mismatch", "the stand-in takes admin replies only")
        author = self.admins.get(str(body.get("admin_id")))
        if author is None:
            return error(400, "parameter_invalid", "Admin not found")
        if not body.get("body"):
            return error(400, "parameter_not_found", "Body is required")
        public = body["message_type"] == "comment"
        return 200, self.comment(ticket, body["body"], public, author, api=True)

    def search_tickets(self, body: Json) -> Answer:
        try:
            found = [t for t in self.tickets.values() if matches(body["query"], self._field(t))]
        except ValueError as exc:
            return error(400, "invalid_field", str(exc))
        return 200, {"type": "ticket.list", "tickets": found, "total_count": len(found)}

    # -- changes (API calls and agents in the inbox alike) --------------------------------

    def comment(self, ticket: Json, html: str, public: bool, author: Json, *, api: bool) -> Json:
        part = self._part(ticket, "comment" if public else "note", author, api, body=html)
        self.changes.append(
            ("ticket.admin.replied" if public else "ticket.note.created", copy.deepcopy(ticket))
        )
        return part

    def assign(self, ticket: Json, admin: Json | None, actor: Json, *, api: bool) -> None:
        ticket["admin_assignee_id"] = int(admin["id"]) if admin else 0
        target = (
            {"type": "admin", "id": admin["id"]} if admin else {"type": "nobody_admin", "id": None}
        )
        self._part(ticket, "assignment", actor, api, assigned_to=target)
        self.changes.append(("ticket.admin.assigned", copy.deepcopy(ticket)))

    def set_state(self, ticket: Json, category: str, actor: Json, *, api: bool) -> None:
        previous = ticket["ticket_state"]["category"]
        states = self.type_of(ticket)["ticket_states"]["data"]
        ticket["ticket_state"] = next(s for s in states if s["category"] == category)
        ticket["open"] = category != "resolved"
        self._part(
            ticket,
            "ticket_state_updated_by_admin",
            actor,
            api,
            ticket_state=category,
            previous_ticket_state=previous,
        )
        self.changes.append(("ticket.state.updated", copy.deepcopy(ticket)))

    def _part(self, ticket: Json, part_type: str, author: Json, api: bool, **extra: Any) -> Json:
        now = int(time.time())
        part: Json = {
            "type": "ticket_part",
            "id": str(700 + self.next_id()),
            "part_type": part_type,
        }
        part |= {"created_at": now, "updated_at": now, "attachments": [], "redacted": False}
        part["author"] = {k: author[k] for k in ("type", "id", "name", "email")}
        part |= ({"app_package_code": APP_CODE} if api else {}) | extra
        parts = ticket["ticket_parts"]
        parts["ticket_parts"].append(part)
        parts["total_count"] = len(parts["ticket_parts"])
        ticket["updated_at"] = now
        return part

    # -- helpers -----------------------------------------------------------------------

    def _contact(self, ref: Json) -> Json | None:
        for key in ("id", "external_id", "email"):
            if key in ref:
                found = next((c for c in self.contacts.values() if c.get(key) == ref[key]), None)
                if found is None and key == "email":  # Intercom makes a lead for a new email
                    found = self.create_contact({"role": "lead", "email": ref["email"]})[1]
                return found
        return None

    def _field(self, ticket: Json) -> Callable[[str], Any]:
        attributes = ticket["ticket_attributes"]
        names = {a["id"]: a["name"] for a in self.type_of(ticket)["ticket_type_attributes"]["data"]}
        fields = {
            "id": ticket["id"],
            "ticket_type_id": ticket["ticket_type"]["id"],
            "contact_ids": [c["id"] for c in ticket["contacts"]["contacts"]],
            "title": attributes.get("_default_title_"),
            "description": attributes.get("_default_description_"),
            "open": ticket["open"],
            "state": ticket["ticket_state"]["category"],
            "admin_assignee_id": str(ticket["admin_assignee_id"]),
        }

        def get(name: str) -> Any:
            if name.startswith("ticket_attribute."):
                attr = names.get(name.removeprefix("ticket_attribute."))
                if attr is None:
                    raise ValueError(f"The requested ticket attribute {name} was not found")
                return attributes.get(attr)
            if name not in fields:
                raise ValueError(f"{name} is not a searchable ticket field")
            return fields[name]

        return get


def _contact_ref(contact: Json) -> Json:
    return {"type": "contact", "id": contact["id"], "external_id": contact.get("external_id")}


def _attribute_problem(kind: Json, attributes: Json) -> str | None:
    known = {a["name"]: a for a in kind["ticket_type_attributes"]["data"]}
    extra = sorted(set(attributes) - set(known))
    if extra:
        return f"Extra attributes provided that are not found on ticket type: {', '.join(extra)}"
    for name, value in attributes.items():
        attr = known[name]
        options = [o["id"] for o in (attr["input_options"] or {}).get("list_options", [])]
        if attr["data_type"] == "list" and value not in options:
            return f"{value!r} is not an option of {name}"
        if attr["data_type"] == "string" and not isinstance(value, str):
            return f"{name} takes a string"
    return None


def view_fields(state: IntercomState, ticket: Json) -> Json:
    """A ticket in deskhand's terms (the fields of ``StandInTicket``)."""
    attributes = ticket["ticket_attributes"]
    labels = {v: k for k, v in PRIORITY_OPTIONS.items()}
    contact = state.contacts.get(ticket["contacts"]["contacts"][0]["id"], {})
    assignee = state.admins.get(str(ticket["admin_assignee_id"]))
    parts = ticket["ticket_parts"]["ticket_parts"]
    return {
        "id": ticket["id"],
        "external_id": attributes.get("deskhand_conversation_id"),
        "subject": attributes.get("_default_title_"),
        "description": attributes.get("_default_description_"),
        "priority": labels.get(attributes.get("priority", "")),
        "status": CATEGORY_STATUS[ticket["ticket_state"]["category"]],
        "assignee_email": assignee["email"] if assignee else None,
        "requester_email": contact.get("email"),
        "comments": [
            (html_to_text(p.get("body") or ""), p["part_type"] == "comment", p["author"]["email"])
            for p in parts
            if p["part_type"] in ("comment", "note")
        ],
        "metadata": {
            k: v
            for k, v in attributes.items()
            if isinstance(v, str) and not re.match(r"_default_|priority$", k)
        },
    }
