import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.handoffs.actions import HandoffAction, HandoffBlock
from bot.handoffs.blocks import (
    customer_message,
    handoff_message,
    status_notice,
    transcript_needs_thread,
    transcript_thread_messages,
)
from bot.handoffs.view import (
    EvidenceItem,
    HandoffStatus,
    HandoffView,
    Priority,
    TicketInfo,
    TranscriptTurn,
)

INJECTIONS = ["<!channel>", "<!here>", "<@U123>", "<https://evil|click>", "@channel", "&<>"]
BROADCAST = re.compile(r"@(?:channel|here|everyone)", re.IGNORECASE)
CREATED = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
MARKER = "handoff:sess-42:esc-1"


def make_view(**overrides: Any) -> HandoffView:
    view = HandoffView(
        handoff_id="sess-42:esc-1",
        reference="DH-1042",
        session_id="sess-42",
        status=HandoffStatus.QUEUED,
        priority=Priority.HIGH,
        reason="no_evidence",
        summary="Customer was charged twice for the May invoice.",
        customer_id="c-9",
        created_at=CREATED,
        customer_name="Ada Lovelace",
        customer_email="ada@example.com",
        intent="refund",
        department="billing",
    )
    return replace(view, **overrides)


def turns(count: int, text: str = "message") -> tuple[TranscriptTurn, ...]:
    return tuple(
        TranscriptTurn(role="customer" if i % 2 == 0 else "bot", text=f"{text} {i}")
        for i in range(count)
    )


def text_leaves(node: Any, key: str | None = None) -> Iterator[str]:
    """Every string a reader can see: the `text` of each text object, and the fallback."""
    if isinstance(node, dict):
        for child_key, child in node.items():
            yield from text_leaves(child, child_key)
    elif isinstance(node, list):
        for child in node:
            yield from text_leaves(child, key)
    elif isinstance(node, str) and key == "text":
        yield node


def all_text(message: dict[str, Any]) -> str:
    return "\n".join(text_leaves(message))


def actions_block(message: dict[str, Any]) -> dict[str, Any] | None:
    found = [b for b in message["blocks"] if b["type"] == "actions"]
    assert len(found) <= 1
    return found[0] if found else None


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


# hypothesis strategies

SLACK_IDS = st.sampled_from(["U0AGENT1", "W0LEAD22", None])
MESSY = st.one_of(
    st.text(max_size=80),
    st.sampled_from(INJECTIONS),
    st.builds(
        lambda piece, n: piece * n, st.sampled_from(["&", "<>", "ab ", "é"]), st.integers(0, 4000)
    ),
    st.builds(
        lambda a, b, c: a + b + c,
        st.text(max_size=20),
        st.sampled_from(INJECTIONS),
        st.text(max_size=20),
    ),
)
LONG_OR_MESSY = st.one_of(MESSY, st.text(min_size=500, max_size=7000))
URLS = st.one_of(
    st.none(),
    st.sampled_from(["https://docs.example.com/refunds?a=1&b=2", "javascript:alert(1)", "ftp://x"]),
    st.text(max_size=40),
)
TURNS = st.builds(TranscriptTurn, role=st.sampled_from(["customer", "bot"]), text=LONG_OR_MESSY)
EVIDENCE = st.builds(
    EvidenceItem,
    title=MESSY,
    url=URLS,
    score=st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)),
)
TICKETS = st.one_of(
    st.none(),
    st.builds(
        TicketInfo,
        system=st.sampled_from(["zendesk", "local"]),
        id=st.one_of(st.none(), st.text(max_size=30)),
        url=URLS,
        offline_reference=st.one_of(st.none(), st.text(max_size=30)),
    ),
)
VIEWS = st.builds(
    make_view,
    status=st.sampled_from(list(HandoffStatus)),
    priority=st.sampled_from(list(Priority)),
    reason=st.one_of(st.sampled_from(["no_evidence", "conflict", "other"]), MESSY),
    summary=LONG_OR_MESSY,
    customer_id=MESSY,
    customer_name=st.one_of(st.none(), MESSY),
    customer_email=st.one_of(st.none(), MESSY),
    intent=st.one_of(st.none(), MESSY),
    department=st.one_of(st.none(), MESSY),
    transcript=st.lists(TURNS, max_size=14).map(tuple),
    evidence=st.lists(EVIDENCE, max_size=8).map(tuple),
    suggested_questions=st.lists(MESSY, max_size=8).map(tuple),
    claimed_by=SLACK_IDS,
    resolved_by=SLACK_IDS,
    ticket=TICKETS,
    history=st.lists(st.sampled_from(["Released by <@U0AGENT1>", "Claimed"]), max_size=5).map(
        tuple
    ),
)
PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


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


# the handoff message


def test_marker_is_on_the_first_block() -> None:
    message = handoff_message(make_view(), marker=MARKER)

    assert message["blocks"][0]["block_id"] == MARKER


def test_header_names_priority_reference_and_customer() -> None:
    header = handoff_message(make_view(priority=Priority.URGENT), marker=MARKER)["blocks"][0]

    assert header["type"] == "header"
    assert header["text"]["text"] == ":rotating_light: DH-1042 · Ada Lovelace"


def test_header_falls_back_to_email_then_id() -> None:
    by_email = handoff_message(make_view(customer_name=None), marker=MARKER)
    by_id = handoff_message(make_view(customer_name=None, customer_email=None), marker=MARKER)

    assert by_email["blocks"][0]["text"]["text"].endswith("ada@example.com")
    assert by_id["blocks"][0]["text"]["text"].endswith("c-9")


def test_fields_show_the_handoff_facts() -> None:
    text = all_text(handoff_message(make_view(), marker=MARKER))

    for expected in ("Ada Lovelace", "ada@example.com", "c-9", "High", "refund", "billing"):
        assert expected in text
    assert "No evidence found" in text
    assert "Customer was charged twice" in text


def test_fallback_text_is_escaped_and_names_the_handoff() -> None:
    view = make_view(summary="<!channel> refund please", customer_name="<@U123>")
    fallback = handoff_message(view, marker=MARKER)["text"]

    assert "DH-1042" in fallback
    assert "refund please" in fallback
    assert "<" not in fallback


def test_customer_text_is_masked_everywhere() -> None:
    view = make_view(
        summary="card 4111 1111 1111 1111, password: hunter2",
        transcript=(TranscriptTurn(role="customer", text="token=abc123 sk_live_abcdefgh12345"),),
        suggested_questions=("Is 4111111111111111 yours?",),
    )
    text = all_text(handoff_message(view, marker=MARKER))

    assert "4111 1111 1111 1111" not in text and "4111111111111111" not in text
    assert "•••• 1111" in text
    assert "hunter2" not in text and "abc123" not in text and "sk_live" not in text


@pytest.mark.parametrize(
    ("ticket", "expected"),
    [
        (None, "Pending"),
        (TicketInfo(system="zendesk"), "Pending"),
        (
            TicketInfo(
                system="zendesk", id="812", url="https://acme.zendesk.com/agent/tickets/812"
            ),
            "<https://acme.zendesk.com/agent/tickets/812|zendesk #812>",
        ),
        (TicketInfo(system="local", id="T-7"), "local #T-7"),
        (TicketInfo(system="zendesk", offline_reference="OFF-3"), "OFF-3"),
    ],
)
def test_ticket_field(ticket: TicketInfo | None, expected: str) -> None:
    text = all_text(handoff_message(make_view(ticket=ticket), marker=MARKER))

    assert expected in text


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"status": HandoffStatus.QUEUED}, "Queued"),
        ({"status": HandoffStatus.CLAIMED, "claimed_by": "U0AGENT1"}, "Claimed by <@U0AGENT1>"),
        ({"status": HandoffStatus.RESOLVED, "resolved_by": "U0LEAD22"}, "Resolved by <@U0LEAD22>"),
        ({"status": HandoffStatus.RETURNED_TO_BOT}, "Returned to the bot"),
    ],
)
def test_status_line(overrides: dict[str, Any], expected: str) -> None:
    text = all_text(handoff_message(make_view(**overrides), marker=MARKER))

    assert expected in text


def test_a_stored_id_that_is_not_a_user_id_is_not_a_mention() -> None:
    view = make_view(status=HandoffStatus.CLAIMED, claimed_by="!channel")
    text = all_text(handoff_message(view, marker=MARKER))

    assert "<!channel>" not in text


# buttons


def test_queued_offers_claim_only() -> None:
    actions = actions_block(handoff_message(make_view(), marker=MARKER))

    assert actions is not None
    assert actions["block_id"] == HandoffBlock.ACTIONS
    [claim] = actions["elements"]
    assert claim["action_id"] == HandoffAction.CLAIM
    assert claim["value"] == "sess-42:esc-1"
    assert claim["style"] == "primary"
    assert claim["text"]["text"] == "Claim"


def test_claimed_offers_release_resolve_and_return() -> None:
    view = make_view(status=HandoffStatus.CLAIMED, claimed_by="U0AGENT1")
    actions = actions_block(handoff_message(view, marker=MARKER))

    assert actions is not None
    buttons = {b["action_id"]: b for b in actions["elements"]}
    assert list(buttons) == [
        HandoffAction.RELEASE,
        HandoffAction.RESOLVE,
        HandoffAction.RETURN_TO_BOT,
    ]
    assert all(b["value"] == "sess-42:esc-1" for b in buttons.values())
    assert buttons[HandoffAction.RESOLVE]["style"] == "primary"
    assert "confirm" in buttons[HandoffAction.RESOLVE]
    assert "confirm" in buttons[HandoffAction.RETURN_TO_BOT]
    assert "confirm" not in buttons[HandoffAction.RELEASE]


@pytest.mark.parametrize("status", [HandoffStatus.RESOLVED, HandoffStatus.RETURNED_TO_BOT])
def test_finished_handoffs_have_no_buttons(status: HandoffStatus) -> None:
    assert actions_block(handoff_message(make_view(status=status), marker=MARKER)) is None


# evidence and questions


def test_evidence_links_only_http_urls_and_shows_scores() -> None:
    view = make_view(
        evidence=(
            EvidenceItem(
                title="Refund policy", url="https://docs.example.com/refunds", score=0.823
            ),
            EvidenceItem(title="Script", url="javascript:alert(1)", score=0.5),
            EvidenceItem(title="Piped", url="https://evil.example.com/|<!channel>"),
            EvidenceItem(title="No link"),
        )
    )
    text = all_text(handoff_message(view, marker=MARKER))

    assert "<https://docs.example.com/refunds|Refund policy>" in text
    assert "0.82" in text
    assert "javascript:" not in text
    assert "Script" in text
    assert "evil.example.com" not in text
    assert "Piped" in text
    assert "No link" in text


def test_evidence_url_ampersands_are_escaped() -> None:
    view = make_view(evidence=(EvidenceItem(title="Q", url="https://x.example/?a=1&b=2"),))

    assert "<https://x.example/?a=1&amp;b=2|Q>" in all_text(handoff_message(view, marker=MARKER))


def test_evidence_shows_five_then_a_count() -> None:
    view = make_view(evidence=tuple(EvidenceItem(title=f"Doc {i}") for i in range(8)))
    text = all_text(handoff_message(view, marker=MARKER))

    assert "Doc 4" in text
    assert "Doc 5" not in text
    assert "+3 more" in text


def test_suggested_questions_are_bullets_up_to_five() -> None:
    view = make_view(suggested_questions=tuple(f"Question {i}?" for i in range(7)))
    text = all_text(handoff_message(view, marker=MARKER))

    assert "• Question 0?" in text
    assert "• Question 4?" in text
    assert "Question 5?" not in text


# transcript in the message


def test_short_transcript_is_shown_whole_without_thread() -> None:
    view = make_view(transcript=turns(3))
    text = all_text(handoff_message(view, marker=MARKER))

    assert "*Customer*" in text and "*Bot*" in text
    assert all(f"message {i}" in text for i in range(3))
    assert "Full transcript" not in text
    assert not transcript_needs_thread(view)


def test_long_transcript_shows_the_last_six_and_points_to_the_thread() -> None:
    view = make_view(transcript=turns(9))
    text = all_text(handoff_message(view, marker=MARKER))

    assert "message 2" not in text
    assert all(f"message {i}" in text for i in range(3, 9))
    assert "Full transcript (9 turns) in the thread" in text
    assert transcript_needs_thread(view)


def test_a_truncated_turn_points_to_the_thread() -> None:
    view = make_view(transcript=(TranscriptTurn(role="customer", text="x" * 900),))
    text = all_text(handoff_message(view, marker=MARKER))

    assert "x" * 900 not in text
    assert "Full transcript (1 turn) in the thread" in text
    assert transcript_needs_thread(view)


def test_history_shows_the_last_three_lines_unescaped() -> None:
    view = make_view(history=("one", "two", "Released by <@U0AGENT1>", "four"))
    texts = list(text_leaves(handoff_message(view, marker=MARKER)))

    assert "two\nReleased by <@U0AGENT1>\nfour" in texts
    assert not any(text.startswith("one") for text in texts)


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
