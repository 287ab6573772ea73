"""handlers/slack/envelopes.py: what Slack sends passes, and a signed body lacking what the
listeners read is named as malformed instead of crashing them."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

import pytest

from bot.demo import slack_requests
from handlers.slack.envelopes import malformed


def _payload(form: str) -> dict[str, Any]:
    return dict(json.loads(dict(parse_qsl(form))["payload"]))


CLICK = _payload(
    slack_requests.block_action(
        action_id="handoff_claim",
        value="sess-42:esc-1",
        user_id="U0AGENT01",
        user_name="ana",
        channel="C0ESCALATE",
        message_ts="1.1",
    )
)
SUBMISSION = _payload(
    slack_requests.view_submission(
        callback_id="approval_reject_modal",
        values={"reason": "not a duplicate"},
        private_metadata="{}",
        user_id="U0APPROVE1",
        user_name="ana.approver",
    )
)
MESSAGE = json.loads(
    slack_requests.message_event(
        channel="C0ESCALATE", user="U0AGENT01", text="hi", ts="2.2", thread_ts="1.1"
    )
)
COMMAND = dict(
    parse_qsl(
        slack_requests.slash_command(
            command="/desk", text="", user_id="U0AGENT01", user_name="ana", channel="C0X"
        ),
        keep_blank_values=True,
    )
)


@pytest.mark.parametrize(
    "payload",
    [
        CLICK,
        SUBMISSION,
        MESSAGE,
        COMMAND,
        {**CLICK, "actions": [{"action_id": "open", "type": "button", "url": "https://x"}]},
        {"type": "event_callback", "event": {"type": "app_home_opened", "user": "U1"}},
        {"type": "event_callback", "event": {"type": "reaction_added", "new": {"field": 1}}},
        {"type": "url_verification", "challenge": "abc"},
        {"type": "shortcut"},  # left to Bolt, which answers it itself
        {**CLICK, "future_field": {"slack": "adds"}},
    ],
    ids=lambda p: str(p.get("type") or p.get("command")),
)
def test_what_slack_sends_passes(payload: dict[str, Any]) -> None:
    assert malformed(payload) is None


@pytest.mark.parametrize(
    ("payload", "where"),
    [
        ({"type": "block_actions"}, "user"),
        ({**CLICK, "actions": "x"}, "actions"),
        ({**CLICK, "actions": [{"action_id": "handoff_claim"}]}, "actions.0"),
        ({**CLICK, "actions": [{"action_id": "handoff_claim", "value": 5}]}, "actions.0.value"),
        ({**CLICK, "user": {"name": "no id"}}, "user.id"),
        ({**CLICK, "channel": "C0ESCALATE"}, "channel"),
        ({**CLICK, "message": ["not", "an", "object"]}, "message"),
        ({**SUBMISSION, "view": {"callback_id": "approval_reject_modal"}}, "view.state"),
        ({**SUBMISSION, "view": {**SUBMISSION["view"], "private_metadata": 7}}, "view"),
        ({"type": "event_callback", "event": "x"}, "event"),
        ({"type": "event_callback", "event": {"type": "message", "user": "U1"}}, "event"),
        ({"type": "event_callback", "event": {"type": "app_home_opened"}}, "event"),
        ({"command": "/desk", "text": "list"}, "user_id"),
        ({**COMMAND, "text": ["a", "b"]}, "text"),
    ],
)
def test_a_body_without_what_listeners_read_is_malformed(
    payload: dict[str, Any], where: str
) -> None:
    reason = malformed(payload)
    assert reason is not None and reason.startswith(where), reason
