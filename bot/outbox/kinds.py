"""Every kind of outbox row; the dispatcher maps each to one effect."""

from enum import StrEnum


class OutboxKind(StrEnum):
    SLACK_HANDOFF_MESSAGE = "slack.handoff_message"
    SLACK_TRANSCRIPT = "slack.transcript"
    SLACK_THREAD_MESSAGE = "slack.thread_message"
    SLACK_EPHEMERAL = "slack.ephemeral"
    SLACK_REACTION = "slack.reaction"
    SLACK_HOME = "slack.home"
    SLACK_TICKET_ALERT = "slack.ticket_alert"
    SLACK_DEAD_LETTER_ALERT = "slack.dead_letter_alert"
    CHATBOT_CALLBACK = "chatbot.callback"
    TICKET_CREATE = "ticket.create"
    TICKET_ASSIGN = "ticket.assign"
    TICKET_UNASSIGN = "ticket.unassign"
    TICKET_COMMENT = "ticket.comment"
    TICKET_STATUS = "ticket.status"
    SLACK_APPROVAL_MESSAGE = "slack.approval_message"
    SLACK_APPROVAL_NOTICE = "slack.approval_notice"
    PAYMENT_REFUND = "payment.refund"
    AGENT_CALLBACK = "agent.callback"


# Where each kind is delivered. A success there means the destination answers again:
# its rows waiting out a backoff are due at once (bot/outbox/dispatcher.py).
_BY_KIND = {
    OutboxKind.CHATBOT_CALLBACK: "chatbot",
    OutboxKind.AGENT_CALLBACK: "agent",
    OutboxKind.PAYMENT_REFUND: "payments",
}
_BY_PREFIX = {"slack": "slack", "ticket": "ticketing"}
# A new kind with neither fails here, at import: every kind needs a destination.
DESTINATIONS: dict[str, str] = {
    kind.value: _BY_KIND.get(kind) or _BY_PREFIX[kind.value.split(".", 1)[0]] for kind in OutboxKind
}
# Alerts about dead letters: one that dead-letters itself raises no further alert.
ALERT_KINDS = frozenset({OutboxKind.SLACK_DEAD_LETTER_ALERT.value})


def destination(kind: str) -> str:
    """The system a row of ``kind`` talks to: slack, chatbot, agent, ticketing, payments
    (an unknown kind is its own destination, so it never brings others forward)."""
    return DESTINATIONS.get(kind, kind)


def kinds_of(destination_name: str) -> tuple[str, ...]:
    """Every kind delivered to ``destination_name`` (an unknown kind: itself)."""
    found = tuple(kind for kind, where in DESTINATIONS.items() if where == destination_name)
    return found or (destination_name,)


def slack_order(handoff_id: str) -> str:
    """A handoff's Slack rows go out in order: the post before its thread and updates."""
    return f"slack:{handoff_id}"


def chatbot_order(handoff_id: str) -> str:
    return f"chatbot:{handoff_id}"


def ticket_order(handoff_id: str) -> str:
    """Ticket operations wait for the ticket to exist."""
    return f"ticket:{handoff_id}"


def approval_slack_order(request_id: str) -> str:
    """An approval's message goes out before its thread notices and updates."""
    return f"slack:approval:{request_id}"


def agent_order(request_id: str) -> str:
    """The agent hears `approved` before `executed`."""
    return f"agent:{request_id}"
