"""Handoff Block Kit output stays within Slack's limits and inert, and the thread messages.

Property-based checks of every message builder, then the transcript thread and the thread
notices.
"""

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.handoffs.blocks import (
    customer_message,
    handoff_message,
    status_notice,
    transcript_thread_messages,
)
from bot.handoffs.view import HandoffView, TranscriptTurn
from tests.support.blocks_strategies import LONG_OR_MESSY, MESSY, PROPERTY_SETTINGS, VIEWS
from tests.support.handoff_views import MARKER, all_text, make_view, text_leaves, turns

BROADCAST = re.compile(r"@(?:channel|here|everyone)", re.IGNORECASE)


def assert_within_slack_limits(message: dict[str, Any]) -> None:
    assert 0 < len(message["text"]) <= 3000
    blocks = message["blocks"]
    assert 0 < len(blocks) <= 50
    block_ids = [b["block_id"] for b in blocks if "block_id" in b]
    assert len(block_ids) == len(set(block_ids))
    assert all(len(block_id) <= 255 for block_id in block_ids)
    for block in blocks:
        kind = block["type"]
        if kind == "header":
            assert block["text"]["type"] == "plain_text"
            assert 0 < len(block["text"]["text"]) <= 150
        elif kind == "section":
            assert "text" in block or "fields" in block
            if "text" in block:
                assert 0 < len(block["text"]["text"]) <= 3000
            fields = block.get("fields", [])
            assert len(fields) <= 10
            assert all(0 < len(field["text"]) <= 2000 for field in fields)
        elif kind == "context":
            assert 0 < len(block["elements"]) <= 10
            assert all(0 < len(element["text"]) <= 3000 for element in block["elements"])
        elif kind == "actions":
            assert 0 < len(block["elements"]) <= 25
            for button in block["elements"]:
                assert 0 < len(button["text"]["text"]) <= 75
                assert len(button["value"]) <= 2000
                assert len(button["action_id"]) <= 255
                if "confirm" in button:
                    confirm = button["confirm"]
                    assert len(confirm["title"]["text"]) <= 100
                    assert len(confirm["text"]["text"]) <= 300
                    assert len(confirm["confirm"]["text"]) <= 30
                    assert len(confirm["deny"]["text"]) <= 30
        else:
            pytest.fail(f"unexpected block type {kind}")


def assert_inert(message: dict[str, Any]) -> None:
    for text in text_leaves(message):
        for payload in ("<!channel>", "<!here>", "<@U123>", "<https://evil|click>"):
            assert payload not in text
        assert not BROADCAST.search(text)


# any input: Slack's limits and no injected markup


@PROPERTY_SETTINGS
@given(VIEWS)
def test_any_handoff_message_respects_slack_limits_and_is_inert(view: HandoffView) -> None:
    message = handoff_message(view, marker=MARKER)

    assert_within_slack_limits(message)
    assert_inert(message)
    assert message["blocks"][0]["block_id"] == MARKER


@PROPERTY_SETTINGS
@given(VIEWS)
def test_any_transcript_thread_respects_slack_limits_and_is_inert(view: HandoffView) -> None:
    for message in transcript_thread_messages(view):
        assert_within_slack_limits(message)
        assert_inert(message)


@PROPERTY_SETTINGS
@given(LONG_OR_MESSY, st.one_of(st.none(), MESSY))
def test_any_customer_message_respects_slack_limits_and_is_inert(
    text: str, name: str | None
) -> None:
    message = customer_message(text, customer_name=name)

    assert_within_slack_limits(message)
    assert_inert(message)


# the transcript thread


def section_bodies(messages: list[dict[str, Any]]) -> list[str]:
    return [
        block["text"]["text"].split("\n", 1)[1]
        for message in messages
        for block in message["blocks"]
        if block["type"] == "section"
    ]


def test_thread_starts_with_the_reference_and_holds_every_turn() -> None:
    view = make_view(transcript=turns(9))
    messages = transcript_thread_messages(view)

    assert "Full transcript of DH-1042" in all_text({"blocks": messages[0]["blocks"][:1]})
    assert section_bodies(messages) == [f"message {i}" for i in range(9)]


def test_a_turn_over_3000_characters_is_split_across_sections() -> None:
    text = " ".join(f"word{i}" for i in range(2000))
    view = make_view(transcript=(TranscriptTurn(role="customer", text=text),))
    messages = transcript_thread_messages(view)

    bodies = section_bodies(messages)
    assert len(bodies) > 1
    assert "".join(bodies) == text
    for message in messages:
        assert_within_slack_limits(message)


def test_a_very_long_transcript_is_split_across_messages() -> None:
    view = make_view(transcript=turns(120, text="y" * 2000))
    messages = transcript_thread_messages(view)

    assert len(messages) > 1
    assert len(section_bodies(messages)) == 120
    for message in messages:
        assert_within_slack_limits(message)


def test_thread_is_empty_without_transcript() -> None:
    assert transcript_thread_messages(make_view()) == []


# thread notices


def test_customer_message_is_escaped_and_named() -> None:
    message = customer_message("<!here> my card 4111111111111111", customer_name="Ada")
    text = all_text(message)

    assert "Ada" in text
    assert "&lt;!here&gt;" in text
    assert "•••• 1111" in text
    assert_inert(message)


def test_customer_message_without_name() -> None:
    assert "Customer" in all_text(customer_message("hello", customer_name=None))


def test_status_notice_keeps_trusted_markup() -> None:
    message = status_notice("Claimed by <@U0AGENT1>")

    assert message["text"] == "Claimed by <@U0AGENT1>"
    assert "Claimed by <@U0AGENT1>" in all_text(message)
    assert_within_slack_limits(message)
