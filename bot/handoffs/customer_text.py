"""What the customer is told at each status change, in plain words."""

from __future__ import annotations

from bot.handoffs.view import TicketInfo


def _ticket_sentence(ticket: TicketInfo | None) -> str:
    if ticket is None:
        return ""
    if ticket.id:
        return f" Your ticket number is {ticket.id}."
    if ticket.offline_reference:
        return f" Your reference is {ticket.offline_reference}."
    return ""


def queued(reference: str, ticket: TicketInfo | None) -> str:
    return (
        "Thanks for your patience: a member of our support team will join this "
        f"conversation shortly (reference {reference})." + _ticket_sentence(ticket)
    )


def claimed(agent_name: str) -> str:
    return f"{agent_name} from our support team has joined the conversation."


def released(reference: str) -> str:
    return (
        "Your agent had to step away. You are back in the queue and the next available "
        f"person will pick up where they left off (reference {reference})."
    )


def resolved(reference: str) -> str:
    return (
        f"Our support team has marked your request {reference} as resolved. "
        "If anything is still open, just write again."
    )


def returned_to_bot() -> str:
    return "Our support team has handed you back to the assistant. Ask away!"
