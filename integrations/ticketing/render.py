"""A ticket's body as plain text, for systems without a richer format."""

from __future__ import annotations

from integrations.ticketing.protocol import NewTicket


def plain_description(ticket: NewTicket) -> str:
    lines = [ticket.summary, "", f"Reason for handoff: {ticket.reason}"]
    if ticket.intent:
        lines.append(f"Intent: {ticket.intent}")
    if ticket.department:
        lines.append(f"Department: {ticket.department}")
    lines.append(f"Handoff: {ticket.reference} ({ticket.handoff_id})")
    if ticket.evidence:
        lines += ["", "Evidence:"]
        for item in ticket.evidence:
            score = f" (score {item.score:.2f})" if item.score is not None else ""
            link = f" <{item.url}>" if item.url else ""
            lines.append(f"- {item.title}{link}{score}")
    if ticket.suggested_questions:
        lines += ["", "Suggested questions:"]
        lines += [f"- {question}" for question in ticket.suggested_questions]
    if ticket.transcript:
        lines += ["", "Transcript:"]
        for turn in ticket.transcript:
            when = f" [{turn.at}]" if turn.at else ""
            lines.append(f"{turn.role}{when}: {turn.text}")
    return "\n".join(lines)
