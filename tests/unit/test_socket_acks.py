"""Bolt's answer to an envelope becomes its Socket Mode ack (handlers/slack/socket_mode.py)."""

from __future__ import annotations

import json

import pytest
from slack_bolt.response import BoltResponse
from slack_sdk.socket_mode.request import SocketModeRequest

from handlers.slack.socket_mode import to_ack


def _request(kind: str = "slash_commands") -> SocketModeRequest:
    return SocketModeRequest(type=kind, envelope_id="env-1", payload={"command": "/desk"})


def test_an_empty_answer_is_a_bare_ack() -> None:
    ack = to_ack(_request("interactive"), BoltResponse(status=200, body=""))
    assert ack is not None and ack.to_dict() == {"envelope_id": "env-1"}


def test_a_json_answer_is_the_acks_payload() -> None:
    errors = {"response_action": "errors", "errors": {"amount": "Not a number."}}
    response = BoltResponse(status=200, body=json.dumps(errors))
    ack = to_ack(_request("interactive"), response)
    assert ack is not None and ack.to_dict() == {"envelope_id": "env-1", "payload": errors}


def test_a_plain_text_answer_is_sent_as_text() -> None:
    response = BoltResponse(status=200, body="You are available.")
    assert response.headers["content-type"][0].startswith("text/plain")
    ack = to_ack(_request(), response)
    assert ack is not None and ack.payload == {"text": "You are available."}


def test_what_nothing_listens_for_is_acked_so_slack_stops_sending_it() -> None:
    ack = to_ack(_request("events_api"), BoltResponse(status=404, body="unhandled"))
    assert ack is not None and ack.to_dict() == {"envelope_id": "env-1"}


@pytest.mark.parametrize("status", [500, 401, 400])
def test_a_failure_is_not_acked_so_slack_sends_it_again(status: int) -> None:
    assert to_ack(_request("events_api"), BoltResponse(status=status, body="")) is None
