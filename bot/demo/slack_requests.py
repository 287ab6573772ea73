"""Signed requests as Slack sends them to /slack/events: used by the demo and the tests."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from typing import Any
from urllib.parse import urlencode


def slack_signature(secret: str, timestamp: str, body: str) -> str:
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signed(secret: str, body: str, *, now: float, content_type: str) -> dict[str, str]:
    timestamp = str(int(now))
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": slack_signature(secret, timestamp, body),
    }


def block_action(
    *,
    action_id: str,
    value: str,
    user_id: str,
    user_name: str,
    channel: str,
    message_ts: str,
    team_id: str = "T0DEMO",
    block_id: str = "handoff_actions",
    trigger_id: str | None = None,
) -> str:
    payload: dict[str, Any] = {
        "type": "block_actions",
        "team": {"id": team_id, "domain": "demo"},
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": team_id},
        "api_app_id": "A0DESKHAND",
        "token": "legacy-verification-token",
        "trigger_id": trigger_id or f"{uuid.uuid4().int % 10**12}.1.{uuid.uuid4().hex[:16]}",
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel},
        "channel": {"id": channel, "name": "escalations"},
        "message": {"type": "message", "ts": message_ts, "text": "handoff"},
        "response_url": "https://hooks.slack.com/actions/T0DEMO/1/demo",
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": block_id,
                "value": value,
                "action_ts": "1700000000.000001",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)})


def view_submission(
    *,
    callback_id: str,
    values: dict[str, str],
    private_metadata: str,
    user_id: str,
    user_name: str,
    team_id: str = "T0DEMO",
) -> str:
    """A modal submitted: ``values`` maps each plain-text input's block id (equal to its
    action id) to what was typed."""
    state = {
        block: {block: {"type": "plain_text_input", "value": text}}
        for block, text in values.items()
    }
    payload: dict[str, Any] = {
        "type": "view_submission",
        "team": {"id": team_id, "domain": "demo"},
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": team_id},
        "api_app_id": "A0DESKHAND",
        "token": "legacy-verification-token",
        "trigger_id": f"{uuid.uuid4().int % 10**12}.1.{uuid.uuid4().hex[:16]}",
        "view": {
            "id": f"V{uuid.uuid4().hex[:10].upper()}",
            "type": "modal",
            "callback_id": callback_id,
            "private_metadata": private_metadata,
            "state": {"values": state},
            "hash": "1.demo",
        },
        "response_urls": [],
    }
    return urlencode({"payload": json.dumps(payload)})


def message_event(
    *,
    channel: str,
    user: str,
    text: str,
    ts: str,
    thread_ts: str | None,
    event_id: str | None = None,
    team_id: str = "T0DEMO",
) -> str:
    event: dict[str, Any] = {
        "type": "message",
        "channel": channel,
        "user": user,
        "text": text,
        "ts": ts,
        "event_ts": ts,
        "channel_type": "channel",
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return json.dumps(
        {
            "token": "legacy-verification-token",
            "team_id": team_id,
            "api_app_id": "A0DESKHAND",
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
            "event_time": int(float(ts)),
        }
    )


def slash_command(*, command: str, text: str, user_id: str, user_name: str, channel: str) -> str:
    return urlencode(
        {
            "token": "legacy-verification-token",
            "team_id": "T0DEMO",
            "channel_id": channel,
            "user_id": user_id,
            "user_name": user_name,
            "command": command,
            "text": text,
            "response_url": "https://hooks.slack.com/commands/T0DEMO/1/demo",
            "trigger_id": f"{uuid.uuid4().int % 10**12}.1.demo",
        }
    )
