"""The intake on both databases: two handoffs whose references collide are both stored,
and one bad handoff in a group-commit batch fails its own request only."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from bot.handoffs.intake import Unstorable
from bot.handoffs.mapping import reference_for
from bot.handoffs.payloads import Customer, HandoffIn
from storage.models import Handoff
from tests.support.harness import Harness
from tests.support.harness_data import handoff_payload

COLLIDING = "DH-SAME0000"


def colliding(handoff_id: str, attempt: int) -> str:
    """Every handoff's first reference is the same one: a 40-bit collision, forced."""
    return COLLIDING if attempt == 0 else reference_for(handoff_id, attempt)


async def test_a_reference_held_by_another_handoff_is_not_a_repeat(desk: Harness) -> None:
    desk.app.intake.references = colliding
    first = await desk.handoff(handoff_id="sess-1:esc-1", session_id="sess-1")
    second = await desk.handoff(handoff_id="sess-2:esc-1", session_id="sess-2")
    assert first == (
        202,
        {"handoff_id": "sess-1:esc-1", "reference": COLLIDING, "status": "queued"},
    )
    assert second[0] == 202
    other = second[1]["reference"]
    assert other == reference_for("sess-2:esc-1", 1) and other != COLLIDING
    # A repeat of the second answers with the reference it was given, and posts nothing.
    assert await desk.handoff(handoff_id="sess-2:esc-1", session_id="sess-2") == (200, second[1])
    await desk.settle()
    for handoff_id, reference in (("sess-1:esc-1", COLLIDING), ("sess-2:esc-1", other)):
        stored = await desk.stored_handoff(handoff_id)
        assert stored is not None and stored.reference == reference
        post = desk.posted_message(handoff_id)
        assert post is not None and reference in str(post)
        told = desk.chatbot.of_type("handoff_status", handoff_id=handoff_id)
        assert reference in told[0]["message"]
    assert len(desk.slack.messages("C0ESCALATE")) == 2


async def test_colliding_handoffs_in_one_batch_are_all_stored(desk: Harness) -> None:
    desk.app.intake.references = colliding
    ids = [f"sess-{n}:esc-1" for n in range(6)]
    answers = await asyncio.gather(*(desk.handoff(handoff_id=h) for h in ids))
    assert [status for status, _ in answers] == [202] * 6
    references = {body["reference"] for _, body in answers}
    assert len(references) == 6
    assert await desk.count(Handoff) == 6


def _payload(handoff_id: str) -> HandoffIn:
    return HandoffIn.model_validate(handoff_payload(handoff_id=handoff_id))


def _poisoned(handoff_id: str) -> HandoffIn:
    """A handoff no database takes (its customer id is NULL), past validation on purpose:
    what a data error the payload models missed would look like."""
    good = _payload(handoff_id)
    return good.model_copy(update={"customer": Customer.model_construct(id=None)})


async def test_one_bad_handoff_fails_alone_and_not_its_batch(
    desk: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    intake = desk.app.intake
    batches: list[int] = []
    write = intake._batches._write_batch  # sizes recorded, nothing changed

    async def recording(batch: Sequence[dict[str, Any]]) -> Sequence[Any]:
        batches.append(len(batch))
        return await write(batch)

    monkeypatch.setattr(intake._batches, "_write_batch", recording)
    good = [f"sess-{n}:esc-1" for n in range(5)]
    outcomes = await asyncio.gather(
        intake.accept(_payload(good[0])),
        intake.accept(_payload(good[1])),
        intake.accept(_poisoned("sess-bad:esc-1")),
        *(intake.accept(_payload(h)) for h in good[2:]),
        return_exceptions=True,
    )
    assert any(size > 1 for size in batches), batches  # the bad one shared a batch
    bad = outcomes.pop(2)
    assert isinstance(bad, Unstorable) and bad.http_status == 422
    assert [getattr(o, "created", o) for o in outcomes] == [True] * 5
    assert await desk.count(Handoff) == 5
    assert await desk.stored_handoff("sess-bad:esc-1") is None
    await desk.settle()
    assert all(desk.posted_message(h) is not None for h in good)
