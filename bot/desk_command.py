"""The `/desk` slash command's text, parsed once into a typed command.

    parse_desk_command("available")        -> Available()
    parse_desk_command("  RETURN dh-42ab ") -> ReturnToBot(reference="DH-42AB")
    parse_desk_command("")                 -> Help()
    parse_desk_command("dance")            -> Unknown(text="dance")

Subcommands are case-insensitive and surrounding or repeated whitespace is ignored. Anything
that is not exactly one known form (extra words, a malformed reference) is `Unknown`, so the
handler can answer with `DESK_HELP` instead of guessing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypeAlias

# A handoff's public reference: "DH-" then 4 to 12 uppercase letters or digits.
REFERENCE_RE = re.compile(r"DH-[A-Z0-9]{4,12}")
# An approval's request_id, as the agent chose it (bot/approvals/payloads.py).
REQUEST_ID_RE = re.compile(r"[A-Za-z0-9:_.\-]{1,200}")


@dataclass(frozen=True)
class Available:
    """`/desk available`: the agent takes handoffs."""


@dataclass(frozen=True)
class Away:
    """`/desk away`: the agent takes no new handoffs."""


@dataclass(frozen=True)
class ListOpen:
    """`/desk list`: the open handoffs."""


@dataclass(frozen=True)
class ReturnToBot:
    """`/desk return DH-1234`: hand the conversation back to the chatbot."""

    reference: str


@dataclass(frozen=True)
class Status:
    """`/desk status`: the agent's own availability and handoffs."""


@dataclass(frozen=True)
class Fallbacks:
    """`/desk fallbacks`: tickets on a fallback branch (offline, unassigned, waiting)."""


@dataclass(frozen=True)
class DeadLetters:
    """`/desk deadletters`: what deskhand gave up on and needs a person."""


@dataclass(frozen=True)
class Approvals:
    """`/desk approvals [request_id]`: open and recent refund requests, or one's audit trail."""

    request_id: str | None = None


@dataclass(frozen=True)
class Help:
    """`/desk` or `/desk help`."""


@dataclass(frozen=True)
class Unknown:
    """Anything else; `text` is what the user typed, with its whitespace collapsed."""

    text: str


DeskCommand: TypeAlias = (
    Available
    | Away
    | ListOpen
    | ReturnToBot
    | Status
    | Fallbacks
    | DeadLetters
    | Approvals
    | Help
    | Unknown
)

_NO_ARGUMENT: dict[str, DeskCommand] = {
    "available": Available(),
    "away": Away(),
    "list": ListOpen(),
    "status": Status(),
    "fallbacks": Fallbacks(),
    "deadletters": DeadLetters(),
    "dead-letters": DeadLetters(),
    "approvals": Approvals(),
    "help": Help(),
}

DESK_HELP = "\n".join(
    [
        "*deskhand* `/desk` commands:",
        "• `/desk available`: take new handoffs",
        "• `/desk away`: stop taking new handoffs (you start as away)",
        "• `/desk list`: the open handoffs",
        "• `/desk status`: whether you are available, and the handoffs you hold",
        "• `/desk return DH-1234`: hand a conversation back to the chatbot",
        "• `/desk fallbacks`: tickets filed offline, unassigned or waiting for an agent",
        "• `/desk deadletters`: what deskhand gave up on (tickets and deliveries)",
        "• `/desk approvals`: open and recent refund requests; "
        "`/desk approvals apr-1`: one request's audit trail",
        "• `/desk help`: this message",
        "In a handoff's thread, your replies go to the customer; a reply starting with `//` "
        "or `note:` stays internal.",
    ]
)


def parse_reference(text: str) -> str | None:
    """`text` as a normalised handoff reference ("dh-42ab" -> "DH-42AB"), or None."""
    candidate = text.strip()
    if not candidate.isascii():  # "\u0131".upper() == "I": upper-case ASCII only
        return None
    candidate = candidate.upper()
    return candidate if REFERENCE_RE.fullmatch(candidate) else None


def parse_desk_command(text: str) -> DeskCommand:
    """Parse the text Slack sends after `/desk`."""
    words = text.split()
    if not words:
        return Help()
    name, arguments = words[0].lower(), words[1:]
    if not arguments and name in _NO_ARGUMENT:
        return _NO_ARGUMENT[name]
    if name == "return" and len(arguments) == 1:
        reference = parse_reference(arguments[0])
        if reference is not None:
            return ReturnToBot(reference=reference)
    if name == "approvals" and len(arguments) == 1 and REQUEST_ID_RE.fullmatch(arguments[0]):
        return Approvals(request_id=arguments[0])
    return Unknown(text=" ".join(words))
