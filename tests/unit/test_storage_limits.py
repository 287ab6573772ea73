"""Text made storable alike on SQLite and PostgreSQL (storage/limits.py, bot/bounded.py),
and what ticketing systems send, made to fit (TicketEvent)."""

from __future__ import annotations

from typing import Annotated

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from bot.bounded import Bounded
from integrations.ticketing.protocol import TicketEvent, TicketEventKind
from storage.limits import (
    ACTOR,
    EMAIL,
    EVENT_ID,
    PERSON_NAME,
    SENT_KEY,
    clean_text,
    fit_key,
    fit_text,
)

FFFD = "\ufffd"


@given(st.text())
def test_clean_text_leaves_no_nul_or_lone_surrogate_and_keeps_the_length(text: str) -> None:
    cleaned = clean_text(text)
    assert "\x00" not in cleaned and len(cleaned) == len(text)
    cleaned.encode()  # every character encodes: both drivers can send it
    assert clean_text("a\x00b\ud800c") == f"a{FFFD}b{FFFD}c"
    assert clean_text("ok 😀") == "ok 😀"


@given(st.text(max_size=1000), st.text(max_size=1000))
def test_fit_key_fits_keeps_equal_keys_equal_and_distinct_keys_distinct(a: str, b: str) -> None:
    assert len(fit_key(a)) <= SENT_KEY and fit_key(a) == fit_key(a)
    if len(a) <= SENT_KEY and clean_text(a) == a:
        assert fit_key(a) == a  # short keys, as every key stored before, are unchanged
    if clean_text(a) != clean_text(b):
        assert fit_key(a) != fit_key(b)


def test_fit_text_cuts_names_to_their_column() -> None:
    assert fit_text(None, 10) is None
    assert fit_text("名" * 10, 10) == "名" * 10
    assert fit_text("名" * 11, 10) == "名" * 9 + "…"


class Model(BaseModel):
    name: Annotated[str, Bounded(4, min_length=1)]


@pytest.mark.parametrize(("value", "stored"), [("a\x00b", f"a{FFFD}b"), ("😀😀😀😀", "😀😀😀😀")])
def test_bounded_text_takes_up_to_its_maximum_in_characters(value: str, stored: str) -> None:
    assert Model(name=value).name == stored


@pytest.mark.parametrize("value", ["", "12345", "😀" * 5, "a\ud800"])
def test_bounded_text_refuses_what_breaks_it(value: str) -> None:
    with pytest.raises(ValidationError):
        Model(name=value)


def test_ticket_events_are_made_storable() -> None:
    event = TicketEvent(
        kind=TicketEventKind.COMMENT,
        system="zendesk",
        ticket_id="1\x002",
        event_id="zendesk:1:comment:" + "9" * 500,
        body="hi\x00",
        author_name="名" * 1000,
        author_email="a" * 400 + "@x",
        assignee_email="b\x00@x",
    )
    assert event.ticket_id == f"1{FFFD}2" and event.body == f"hi{FFFD}"
    assert len(event.event_id) <= EVENT_ID and event.event_id.startswith("zendesk:1:comment:")
    assert event.author_name is not None and len(event.author_name) == PERSON_NAME
    assert event.author_email is not None and len(event.author_email) == EMAIL
    assert event.assignee_email == f"b{FFFD}@x"
    # Whoever acted, as deskhand records them, fits the column.
    assert len(f"intercom:{event.author_name}") <= ACTOR
