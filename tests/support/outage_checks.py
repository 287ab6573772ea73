"""What must hold after an outage phase (tests/support/outage_traffic.py) has healed: at
each stand-in, every effect applied exactly once and in order per handoff (or approval
request); in the database, every outbox row delivered and no dead letter.

Each check names the phase (``system/fault``) in its message, so a failure in a shared app
says which fault it came from.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from bot.demo.chatbot_standin import ChatbotStandIn
from bot.handoffs.actions import HandoffAction
from bot.handoffs.mapping import message_marker
from bot.outbox.chatbot_effects import DELIVERED_REACTION
from bot.outbox.kinds import OutboxKind
from storage.models import OutboxRow
from tests.support.approvals_e2e import APPROVAL_CHANNEL
from tests.support.fault_proxy import Mode
from tests.support.harness_data import AGENT, CHANNEL, OTHER_AGENT
from tests.support.outage_traffic import Fault, Phase
from tests.support.outage_world import TICKETING, World
from tests.support.ticketing_e2e import EMAILS

__all__ = ["check_approvals", "check_handoffs"]

_MODE: dict[Fault, Mode] = {
    "down": "down",
    "status_500": "status",
    "rate_limited": "rate_limited",
    "slow": "slow",
    "reset": "reset_after_forwarding",
}
# The outbox kinds that reach each system.
_KINDS = {
    "slack": ("slack.",),
    "chatbot": (OutboxKind.CHATBOT_CALLBACK,),
    "agent": (OutboxKind.AGENT_CALLBACK,),
    "stripe": (OutboxKind.PAYMENT_REFUND,),
    **{system: ("ticket.",) for system in TICKETING},
}


async def check_handoffs(world: World, phase: Phase) -> None:
    rows = await _phase_rows(world, phase)
    for handoff_id in phase.handoffs:
        await _check_slack(world, phase, handoff_id, rows)
        _check_callbacks(world.desk.chatbot, phase, "handoff_id", handoff_id, rows, "chatbot")
        if world.tickets is not None:
            await _check_ticket(world, phase, handoff_id)
    _check_fault_was_felt(world, phase, rows)


async def check_approvals(world: World, phase: Phase) -> None:
    approvals, agent = world.approvals, world.agent
    assert approvals is not None and agent is not None
    rows = await _phase_rows(world, phase)
    label = phase.label(world.system)
    for request_id in phase.requests:
        assert approvals.statuses(request_id) == ["approved", "executed"], (label, request_id)
        _check_callbacks(agent, phase, "request_id", request_id, rows, "agent")
        refunds = _refunds_of(world, request_id)
        assert len(refunds) == 1, f"{label}: {len(refunds)} refunds for {request_id}"
        status, polled = await approvals.poll(request_id)
        assert (status, polled["status"]) == (200, "executed"), (label, status, polled)
        posts = [m for m in approvals.slack.messages(APPROVAL_CHANNEL) if _names(m, request_id)]
        assert len(posts) == 1, f"{label}: {len(posts)} approval messages for {request_id}"
        _unique_markers(approvals.thread(request_id), f"{label} {request_id} thread")
    _check_fault_was_felt(world, phase, rows)


# -- the database ----------------------------------------------------------------------


async def _phase_rows(world: World, phase: Phase) -> list[OutboxRow]:
    """The phase's outbox rows, once every row (an earlier phase's too) is delivered."""
    rows = await world.desk.outbox_rows()
    left = [
        (r.id, r.kind, r.idempotency_key, r.status, r.attempts, r.last_error)
        for r in rows
        if r.status != "done"
    ]
    assert left == [], f"{phase.label(world.system)}: undelivered or dead rows {left}"
    mine = [r for r in rows if r.id > phase.after_row]
    assert mine, f"{phase.label(world.system)}: the phase queued nothing"
    return mine


def _check_fault_was_felt(world: World, phase: Phase, rows: list[OutboxRow]) -> None:
    """The fault really hit the system: some delivery to it was tried again, and the
    proxy saw the faulty requests (forwarded only where the fault lets the work happen)."""
    label = phase.label(world.system)
    prefixes = _KINDS[world.system]
    retried = [r for r in rows if r.kind.startswith(prefixes) and r.attempts > 1]
    assert retried, f"{label}: no delivery to {world.system} was retried"
    mode = _MODE[phase.fault]
    if mode == "down":
        return  # a refused connection never reaches the proxy
    seen = world.proxy.during(mode)
    assert seen, f"{label}: no request met the fault"
    forwarded = mode in ("slow", "reset_after_forwarding")
    assert all(p.forwarded == forwarded for p in seen), label


# -- Slack -----------------------------------------------------------------------------


async def _check_slack(world: World, phase: Phase, handoff_id: str, rows: list[OutboxRow]) -> None:
    desk, label = world.desk, f"{phase.label(world.system)} {handoff_id}"
    marker = message_marker(handoff_id)
    posts = [m for m in desk.slack.messages(CHANNEL) if marker in _markers(m)]
    assert len(posts) == 1, f"{label}: {len(posts)} Slack posts"
    stored = await desk.stored_handoff(handoff_id)
    assert stored is not None and stored.slack_ts == posts[0]["ts"], label
    # The message shows the latest state (the updates were not lost or applied out of order).
    buttons = str(posts[0].get("blocks"))
    if handoff_id in phase.resolved:
        assert stored.status == "resolved", (label, stored.status)
        assert HandoffAction.CLAIM not in buttons and HandoffAction.RESOLVE not in buttons, label
    elif handoff_id in phase.claimed:
        assert stored.status == "claimed" and HandoffAction.RELEASE in buttons, label
    else:
        assert stored.status == "queued" and HandoffAction.CLAIM in buttons, label

    thread = desk.thread(handoff_id)
    assert all(float(m["ts"]) > float(posts[0]["ts"]) for m in thread), label
    ours = [m for m in thread if m.get("user") == desk.slack.state.bot_user_id]
    _unique_markers(ours, label)
    # The transcript (the conversation before the handoff) first, then each thread
    # message once, in the order it was queued.
    posted = [m["blocks"][0]["block_id"] for m in ours]
    parts = [message_marker(handoff_id, f"transcript:{n}") for n in range(len(posted))]
    transcript = [p for p in parts if p in posted]
    queued = [
        message_marker(handoff_id, r.payload["marker_part"])
        for r in rows
        if r.kind == OutboxKind.SLACK_THREAD_MESSAGE and r.payload["handoff_id"] == handoff_id
    ]
    assert posted == transcript + queued, f"{label}: thread {texts_of(ours)}"
    if handoff_id in phase.note_hints:
        hints = desk.slack.ephemerals(CHANNEL, OTHER_AGENT[0])
        mine = [e for e in hints if e.get("thread_ts") == posts[0]["ts"]]
        assert len(mine) == 1, f"{label}: {len(mine)} note hints to the colleague"
    texts = [m.get("text", "") for m in ours]
    for text in phase.customer_messages.get(handoff_id, []):
        assert sum(text in t for t in texts) == 1, f"{label}: {text!r} in {texts}"
    for reply in phase.agent_replies.get(handoff_id, []):
        [message] = [m for m in thread if m.get("user") == AGENT[0] and m.get("text") == reply]
        reactions = [r for r in message.get("reactions") or [] if r["name"] == DELIVERED_REACTION]
        assert [r["count"] for r in reactions] == [1], f"{label}: reactions {reactions}"


def texts_of(messages: list[dict[str, Any]]) -> list[str]:
    return [str(m.get("text", ""))[:40] for m in messages]


def _markers(message: dict[str, Any]) -> list[str]:
    return [str(b["block_id"]) for b in message.get("blocks") or [] if b.get("block_id")]


def _unique_markers(messages: list[dict[str, Any]], label: str) -> None:
    counts = Counter(m for message in messages for m in _markers(message)[:1])
    twice = [m for m, n in counts.items() if n > 1]
    assert twice == [], f"{label}: posted twice: {twice}"


def _names(message: dict[str, Any], request_id: str) -> bool:
    return request_id in str(message.get("blocks") or [])


# -- callbacks (the chatbot's and the agent's) -----------------------------------------


def _check_callbacks(
    receiver: ChatbotStandIn,
    phase: Phase,
    field: str,
    value: str,
    rows: list[OutboxRow],
    receiver_name: str,
) -> None:
    """Every callback row about ``value`` applied exactly once, in the order of the rows
    (ordered per handoff or request); every attempt that reached the receiver was signed
    and carried a key that was applied (a repeat, never a second effect)."""
    label = f"{phase.label(receiver_name)} callbacks for {value}"
    kinds = (OutboxKind.CHATBOT_CALLBACK, OutboxKind.AGENT_CALLBACK)
    queued = [
        r.idempotency_key for r in rows if r.kind in kinds and r.payload["body"].get(field) == value
    ]
    applied = [c for c in receiver.callbacks if c.body.get(field) == value]
    applied_keys = [c.idempotency_key for c in applied]
    assert applied_keys == queued, f"{label}: applied {applied_keys}, queued {queued}"
    received = [c for c in receiver.received if c.body.get(field) == value]
    assert all(c.signature_ok for c in received), label
    assert {c.idempotency_key for c in received} <= {c.idempotency_key for c in applied}, label
    for key in set(queued):  # a repeat carries the same body: it is the same effect
        bodies = {str(c.body) for c in received if c.idempotency_key == key}
        assert len(bodies) == 1, f"{label}: {key} sent with different bodies"
    if field == "handoff_id" and value in phase.claimed:
        statuses = [
            c.body.get("status") or c.body["type"]
            for c in applied
            if c.body.get("status") != "queued"
        ]
        wanted = ["claimed", "agent_message"] + (["resolved"] if value in phase.resolved else [])
        assert statuses == wanted, f"{label}: {statuses}"


# -- tickets and refunds ---------------------------------------------------------------


async def _check_ticket(world: World, phase: Phase, handoff_id: str) -> None:
    standin, label = world.tickets, f"{phase.label(world.system)} {handoff_id}"
    assert standin is not None
    mine = [
        t
        for t in standin.tickets()
        if handoff_id in (t.metadata.get("deskhand_handoff_id"), getattr(t, "handoff_id", None))
    ]
    assert len(mine) == 1, f"{label}: {len(mine)} tickets"
    [ticket] = mine
    stored = await world.desk.stored_handoff(handoff_id)
    assert stored is not None and stored.ticket_id == ticket.id, (label, stored)
    # Everything said, once each, in the order it was said.
    said = phase.said.get(handoff_id, [])
    assert [c.body for c in ticket.comments] == said, f"{label}: {ticket.comments}"
    if handoff_id in phase.resolved:
        assert (ticket.status, ticket.assignee_email) == ("solved", EMAILS[AGENT[0]]), label
    elif handoff_id in phase.claimed:
        assert (ticket.status, ticket.assignee_email) == ("open", EMAILS[AGENT[0]]), label
    else:
        assert (ticket.status, ticket.assignee_email) == ("open", None), label
    async with world.desk.app.db.uow() as uow:
        fallbacks = await uow.fallbacks.of_handoff(stored.id)
    stuck = [(f.kind, f.status) for f in fallbacks if f.status == "dead" or f.kind == "offline"]
    assert all(status == "resolved" for _, status in stuck), f"{label}: fallbacks {stuck}"


def _refunds_of(world: World, request_id: str) -> list[object]:
    if world.stripe is not None:
        return [
            r
            for r in world.stripe.refunds
            if r["metadata"].get("deskhand_request_id") == request_id
        ]
    assert world.local_payments is not None
    return [
        r
        for r in world.local_payments.refunds
        if r.metadata.get("deskhand_request_id") == request_id
    ]
