"""Every text field of the webhook payloads at its maximum, in any characters (NUL, emoji,
CJK included), is accepted with NUL as U+FFFD; one character more is refused."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from bot.approvals.payloads import ApprovalIn
from bot.handoffs.payloads import CustomerMessageIn, HandoffIn
from tests.support.openapi_doc import MINIMAL_HANDOFF, with_value

APPROVAL: dict[str, Any] = {
    "request_id": "apr-1",
    "action": "refund",
    "requested_by": "billing-agent",
    "customer": {"id": "c-9"},
    "params": {"payment_id": "pi_1", "amount_minor": 1, "currency": "usd", "reason": "duplicate"},
    "justification": "twice",
}
HANDOFF: dict[str, Any] = {
    **MINIMAL_HANDOFF,
    "customer": {"id": "c1", "name": "n", "email": "e"},
    "intent": "i",
    "department": "d",
    "transcript": [{"role": "bot", "text": "t"}],
    "evidence": [{"title": "t"}],
    "suggested_questions": ["q"],
}
# (model, sample, path to the text, its maximum)
FIELDS: list[tuple[type[BaseModel], dict[str, Any], str, int]] = [
    (HandoffIn, HANDOFF, "session_id", 200),
    (HandoffIn, HANDOFF, "customer.id", 200),
    (HandoffIn, HANDOFF, "customer.name", 400),
    (HandoffIn, HANDOFF, "customer.email", 320),
    (HandoffIn, HANDOFF, "summary", 5000),
    (HandoffIn, HANDOFF, "intent", 1000),
    (HandoffIn, HANDOFF, "department", 200),
    (HandoffIn, HANDOFF, "transcript.0.text", 20000),
    (HandoffIn, HANDOFF, "evidence.0.title", 1000),
    (HandoffIn, HANDOFF, "suggested_questions.0", 1000),
    (CustomerMessageIn, {"message_id": "m-1", "text": "t"}, "text", 20000),
    (ApprovalIn, APPROVAL, "requested_by", 200),
    (ApprovalIn, APPROVAL, "customer.id", 200),
    (ApprovalIn, APPROVAL, "customer.email", 320),
    (ApprovalIn, APPROVAL, "justification", 5000),
]
# A character of each width in UTF-8, and NUL.
PIECES = st.sampled_from(["a", "é", "界", "😀", "\x00", " "])


def _read(model: BaseModel, path: str) -> Any:
    node: Any = model
    for part in path.split("."):
        node = node[int(part)] if part.isdigit() else getattr(node, part)
    return node


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(FIELDS), PIECES, st.data())
def test_a_text_at_its_maximum_is_taken_with_nul_as_u_fffd(
    field: tuple[type[BaseModel], dict[str, Any], str, int], piece: str, data: st.DataObject
) -> None:
    model, sample, path, maximum = field
    # Mostly the one piece repeated (cheap), with a few random ones among it.
    text = list(piece * maximum)
    for index in data.draw(st.lists(st.integers(0, maximum - 1), max_size=5)):
        text[index] = data.draw(PIECES)
    value = "".join(text)
    if not value.strip() and model is ApprovalIn:
        value = "x" + value[1:]  # approvals refuse blank text, a rule of their own
    parsed = model.model_validate(with_value(sample, path, value))
    assert _read(parsed, path) == value.replace("\x00", "\ufffd")
    with pytest.raises(ValidationError):
        model.model_validate(with_value(sample, path, value + piece))
