"""The handoff message: header, facts, status, buttons, evidence and transcript excerpt."""

from typing import Any

import pytest

from bot.handoffs.actions import HandoffAction, HandoffBlock
from bot.handoffs.blocks import handoff_message, transcript_needs_thread
from bot.handoffs.view import EvidenceItem, HandoffStatus, Priority, TicketInfo, TranscriptTurn
from tests.support.handoff_views import MARKER, all_text, make_view, text_leaves, turns


def actions_block(message: dict[str, Any]) -> dict[str, Any] | None:
    found = [b for b in message["blocks"] if b["type"] == "actions"]
    assert len(found) <= 1
    return found[0] if found else None


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
