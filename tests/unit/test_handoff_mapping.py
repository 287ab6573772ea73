"""References, markers, Slack text to customer text, the internal-note convention."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.handoffs.mapping import message_marker, reference_for
from bot.handoffs.slack_text import is_internal_note, to_plain_text


@given(st.text(min_size=1, max_size=200))
def test_reference_is_short_sayable_and_stable(handoff_id: str) -> None:
    reference = reference_for(handoff_id)
    assert re.fullmatch(r"DH-[0-9A-HJKMNP-TV-Z]{8}", reference)
    assert reference == reference_for(handoff_id)


@given(st.from_regex(r"[A-Za-z0-9:_.\-]{1,200}", fullmatch=True), st.integers(1, 7))
def test_each_attempt_gives_another_sayable_reference(handoff_id: str, attempt: int) -> None:
    retried = reference_for(handoff_id, attempt)
    assert re.fullmatch(r"DH-[0-9A-HJKMNP-TV-Z]{8}", retried)
    assert retried == reference_for(handoff_id, attempt)
    assert retried != reference_for(handoff_id)  # 40 bits: equal by chance once in 10**12
    assert reference_for(handoff_id, 0) == reference_for(handoff_id)  # stored ones stay


def test_references_differ_between_handoffs() -> None:
    references = {reference_for(f"sess-{i}:esc-1") for i in range(5000)}
    assert len(references) == 5000


@given(st.text(max_size=300), st.text(max_size=300))
def test_markers_fit_a_block_id_and_tell_parts_apart(handoff_id: str, part: str) -> None:
    marker = message_marker(handoff_id, part)
    assert len(marker) <= 255 and marker != "handoff_actions"
    if part != "msg":
        assert marker != message_marker(handoff_id)


@pytest.mark.parametrize(
    ("slack", "plain"),
    [
        ("see <https://example.com/a|the doc>", "see the doc (https://example.com/a)"),
        ("see <https://example.com/a>", "see https://example.com/a"),
        ("mail <mailto:a@example.com|a@example.com>", "mail a@example.com"),
        ("ask <@U123ABC>", "ask @agent"),
        ("ask <@U123ABC|ana>", "ask @ana"),
        ("in <#C0123|billing>", "in #billing"),
        ("hey <!here>", "hey @here"),
        ("a &lt;b&gt; &amp; c", "a <b> & c"),
        ("plain text", "plain text"),
    ],
)
def test_slack_text_becomes_what_a_customer_reads(slack: str, plain: str) -> None:
    assert to_plain_text(slack) == plain


@pytest.mark.parametrize(
    ("text", "internal"),
    [
        ("// check stripe", True),
        ("  //indented", True),
        ("note: internal", True),
        ("NOTE: shouting", True),
        ("[note] bracketed", True),
        ("Hi, http://example.com//path", False),
        ("notes are great", False),
        ("Hello!", False),
    ],
)
def test_internal_note_convention(text: str, internal: bool) -> None:
    assert is_internal_note(text) is internal
