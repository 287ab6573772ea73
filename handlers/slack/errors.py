"""One error handler: domain errors become an ephemeral message to the person who clicked;
anything else is logged with an incident id that the person also sees."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import structlog
from slack_bolt.response import BoltResponse

from bot.errors import DeskhandError

if TYPE_CHECKING:
    from bot.app import Deskhand

log = structlog.get_logger(__name__)


def _where(body: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    channel = (body.get("channel") or {}).get("id") or body.get("channel_id")
    user = (body.get("user") or {}).get("id") or body.get("user_id")
    thread_ts = ((body.get("message") or {}).get("thread_ts")) or None
    return channel, user, thread_ts


async def report(app: Deskhand, error: Exception, body: dict[str, Any]) -> None:
    """Tell the person who acted why it failed, privately; log what we did not expect."""
    channel, user, thread_ts = _where(body)
    if isinstance(error, DeskhandError):
        text = error.user_message
        log.info("slack.refused", code=error.code, user=user, message=text)
    else:
        incident = uuid.uuid4().hex[:12]
        log.error("slack.listener_failed", incident=incident, user=user, exc_info=error)
        text = f"Something went wrong on our side (incident {incident})."
    if channel and user:
        key = f"{user}:{body.get('trigger_id') or uuid.uuid4().hex}"
        await app.notices.ephemeral(
            channel=channel, user=user, text=text, key=key, thread_ts=thread_ts
        )


def install(app: Deskhand) -> None:
    @app.bolt.error
    async def on_error(error: Exception, body: dict[str, Any]) -> BoltResponse | None:
        await report(app, error, body)
        if isinstance(error, DeskhandError):
            # A refusal is an answer, not a failure: the listener acked and the person
            # hears why privately; a 500 would make Slack show an error (or redeliver).
            return BoltResponse(status=200, body="")
        return None
