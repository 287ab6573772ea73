"""Handoff buttons and thread replies. Each listener acks and makes one domain call: a
click right after its ack, a thread reply before (so an ack means the reply is stored)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from slack_bolt.context.ack.async_ack import AsyncAck

from bot.handoffs.actions import HandoffAction
from bot.handoffs.conversation import ThreadReply
from bot.handoffs.lifecycle import Actor
from handlers.slack.errors import report

if TYPE_CHECKING:
    from bot.app import Deskhand

Transition = Callable[[str, Actor], Awaitable[None]]
Listener = Callable[..., Awaitable[None]]

# Message subtypes that are still a person writing in the thread.
REPLY_SUBTYPES = {None, "thread_broadcast", "file_share"}


def _actor(body: dict[str, Any]) -> Actor:
    user = body["user"]
    return Actor(user_id=user["id"], name=user.get("name") or user.get("username"))


def _on_click(app: Deskhand, transition: Transition) -> Listener:
    # Bolt injects arguments by name, so each button gets its own closure.
    async def on_click(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        handoff_id, actor = action["value"], _actor(body)

        async def work() -> None:
            await transition(handoff_id, actor)

        async def on_error(error: Exception) -> None:
            await report(app, error, body)

        # Answered now; the transition runs right after (see bot/after_ack.py).
        app.after_ack.submit(work, on_error=on_error, name=f"{action['action_id']}:{handoff_id}")

    return on_click


def install(app: Deskhand) -> None:
    lifecycle = app.lifecycle
    transitions = {
        HandoffAction.CLAIM: lifecycle.claim,
        HandoffAction.RELEASE: lifecycle.release,
        HandoffAction.RESOLVE: lifecycle.resolve,
        HandoffAction.RETURN_TO_BOT: lifecycle.return_to_bot,
    }
    for action_id, transition in transitions.items():
        app.bolt.action(action_id)(_on_click(app, transition))

    @app.bolt.event("message")
    async def on_message(event: dict[str, Any]) -> None:
        thread_ts = event.get("thread_ts")
        if (
            not thread_ts
            or thread_ts == event.get("ts")
            or event.get("bot_id")
            or event.get("subtype") not in REPLY_SUBTYPES
            or not event.get("user")
        ):
            return
        await app.conversation.thread_reply(
            ThreadReply(
                channel=event["channel"],
                thread_ts=thread_ts,
                ts=event["ts"],
                user_id=event["user"],
                text=event.get("text") or "",
            )
        )
