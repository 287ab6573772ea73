"""/desk and App Home."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from slack_bolt.context.ack.async_ack import AsyncAck

from bot.desk_command import parse_desk_command
from bot.errors import DeskhandError
from bot.handoffs.lifecycle import Actor
from bot.home import HomeAction

if TYPE_CHECKING:
    from bot.app import Deskhand


def install(app: Deskhand) -> None:
    @app.bolt.command("/desk")
    async def on_desk(ack: AsyncAck, command: dict[str, Any]) -> None:
        actor = Actor(user_id=command["user_id"], name=command.get("user_name"))
        try:
            answer = await app.desk.run(parse_desk_command(command.get("text") or ""), actor)
        except DeskhandError as exc:
            answer = exc.user_message
        # A slash command's ack carries the answer, shown to the caller only.
        await ack(text=answer)

    @app.bolt.event("app_home_opened")
    async def on_home(event: dict[str, Any]) -> None:
        if event.get("tab", "home") == "home":
            await app.desk.publish_home(event["user"])

    def on_toggle(available: bool) -> Callable[..., Awaitable[None]]:
        async def toggle(ack: AsyncAck, body: dict[str, Any]) -> None:
            await ack()
            await app.desk.set_available(body["user"]["id"], available)

        return toggle

    app.bolt.action(HomeAction.SET_AVAILABLE)(on_toggle(True))
    app.bolt.action(HomeAction.SET_AWAY)(on_toggle(False))
