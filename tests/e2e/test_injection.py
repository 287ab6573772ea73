"""Customer text is untrusted: in Slack it never pings, links, mentions or leaks secrets,
and however long the conversation, every message stays within Slack's limits."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from bot.handoffs.mapping import message_marker
from storage.models import HandoffMessage
from tests.support.harness import CHANNEL, HANDOFF, Harness

HID = HANDOFF["handoff_id"]
INJECTION = (
    "<!channel> <!here> @channel @here <@U123ABC> <https://evil.example|click> &<> "
    "card 4111 1111 1111 1111 password: hunter2 key sk_live_abcdefghijklmnop1234"
)
# Nothing of these may reach any text of any message deskhand sends to Slack.
FORBIDDEN = (
    "<!channel>",
    "<!here>",
    "<@U123ABC>",
    "<https://evil.example|click>",
    "<https://evil.example",
    "hunter2",
    "4111 1111 1111 1111",
    "4111111111111111",
    "sk_live_",
)
UNESCAPED_PING = re.compile(r"@(channel|here|everyone)\b", re.IGNORECASE)
# What the agent does get to read, escaped so that Slack shows it as typed.
VISIBLE = ("&lt;!channel&gt;", "&lt;@U123ABC&gt;", "&amp;&lt;&gt;", "•••• 1111", "[redacted]")

MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_FIELD = 2000
MAX_HEADER = 150
MAX_TEXT = 40_000


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _sent_messages(desk: Harness) -> list[dict[str, Any]]:
    """The arguments of every message posted or updated (successful or not)."""
    return [c.args for c in desk.slack.calls if c.method in ("chat.postMessage", "chat.update")]


def _limit_problems(args: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    blocks = args.get("blocks") or []
    if len(blocks) > MAX_BLOCKS:
        problems.append(f"{len(blocks)} blocks")
    if len(str(args.get("text") or "")) > MAX_TEXT:
        problems.append("fallback text too long")
    for block in blocks:
        kind = block["type"]
        if len(block.get("block_id", "")) > 255:
            problems.append("block_id too long")
        if kind == "header" and len(block["text"]["text"]) > MAX_HEADER:
            problems.append("header too long")
        if kind == "section":
            if "text" in block and len(block["text"]["text"]) > MAX_SECTION:
                problems.append(f"section text of {len(block['text']['text'])}")
            fields = block.get("fields") or []
            if len(fields) > 10 or any(len(f["text"]) > MAX_FIELD for f in fields):
                problems.append("fields too many or too long")
            if "text" not in block and not fields:
                problems.append("empty section")
        if kind == "context":
            elements = block["elements"]
            if not 1 <= len(elements) <= 10:
                problems.append("context elements")
            if any(len(e.get("text", "")) > MAX_SECTION for e in elements):
                problems.append("context text too long")
    return problems


def _assert_clean(messages: list[dict[str, Any]]) -> str:
    """No injection survives anywhere; returns all the text, for positive checks."""
    assert messages
    everything: list[str] = []
    for args in messages:
        assert args.get("text"), "every message has a fallback text"
        assert _limit_problems(args) == [], _limit_problems(args)
        for text in _strings(args):
            for needle in FORBIDDEN:
                assert needle not in text, f"{needle!r} survived in {text[:300]!r}"
            assert not UNESCAPED_PING.search(text), text[:300]
            everything.append(text)
    return "\n".join(everything)


def _injected_handoff(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "customer": {"id": "c-9", "name": f"Ada {INJECTION}", "email": f"{INJECTION}@x"},
        "summary": f"Summary: {INJECTION}",
        "intent": INJECTION,
        "department": INJECTION[:200],
        "transcript": [
            {"role": "customer", "text": f"I said {INJECTION}"},
            {"role": "bot", "text": f"You said {INJECTION}", "at": "2026-01-05T08:59:00Z"},
        ],
        "evidence": [
            {"title": f"Doc {INJECTION}", "url": "https://help.example.com/a?b=1&c=2", "score": 0.5}
        ],
        "suggested_questions": [f"Ask: {INJECTION}", INJECTION],
    }
    payload.update(overrides)
    return payload


async def test_injections_in_a_handoff_never_reach_slack_raw(desk: Harness) -> None:
    status, _ = await desk.handoff(**_injected_handoff())
    assert status == 202
    await desk.settle()

    post = desk.posted_message()
    assert post is not None
    messages = _sent_messages(desk)
    assert len(messages) >= 2  # posted, then updated once the ticket existed
    text = _assert_clean(messages)
    for visible in VISIBLE:
        assert visible in text, visible
    # The evidence link itself works, with its query string escaped for Slack.
    assert "<https://help.example.com/a?b=1&amp;c=2|Doc" in text
    # What Slack stores is what was checked: nothing was lost on the way.
    _assert_clean([post])


async def test_injections_in_customer_messages_are_escaped(desk: Harness) -> None:
    await desk.handoff(**_injected_handoff())
    await desk.settle()
    before = len(_sent_messages(desk))

    status, _ = await desk.customer_message(HID, "m-1", f"Again: {INJECTION}")
    assert status == 202
    long_text = " ".join(f"word{i} {INJECTION}" for i in range(120))  # ~20 000 chars
    status, _ = await desk.customer_message(HID, "m-2", long_text[:20_000])
    assert status == 202
    await desk.settle()

    new = _sent_messages(desk)[before:]
    assert len(new) >= 2 and all(args.get("thread_ts") for args in new)
    text = _assert_clean(new)
    for visible in VISIBLE:
        assert visible in text, visible
    assert "word0 " in text and "word100 " in text
    # The stored conversation keeps what the customer wrote, unchanged.
    async with desk.app.db.uow() as uow:
        handoff = await uow.handoffs.get(HID)
        assert handoff is not None
        stored = [m.text for m in await uow.handoffs.messages(handoff.id)]
    assert stored[0] == f"Again: {INJECTION}"
    assert await desk.count(HandoffMessage) == 2


def _long_transcript(turns: int) -> list[dict[str, Any]]:
    transcript = []
    for i in range(turns):
        if i % 7 == 3:
            filler = " ".join(f"t{i}w{j}" for j in range(800))  # about 5 000 characters
            text = f"start-{i} {INJECTION} {filler} end-{i}"
        else:
            text = f"start-{i} short turn {i} end-{i}"
        role = "customer" if i % 2 == 0 else "bot"
        transcript.append({"role": role, "text": text, "at": f"2026-01-05T08:{i % 60:02d}:00Z"})
    return transcript


async def test_a_long_transcript_lands_whole_in_the_thread_within_limits(desk: Harness) -> None:
    turns = 60
    transcript = _long_transcript(turns)
    assert max(len(t["text"]) for t in transcript) > 5000
    status, body = await desk.handoff(transcript=transcript)
    assert status == 202
    await desk.settle()

    post = desk.posted_message()
    assert post is not None
    top = _assert_clean([post])
    # The message shows the last turns only, and says where the rest is.
    assert f"start-{turns - 1} " in top and "start-0 " not in top
    assert f"Full transcript ({turns} turns) in the thread" in top

    parts = [
        m
        for m in desk.thread()
        if any(str(b.get("block_id", "")).startswith("dh:") for b in m.get("blocks") or [])
    ]
    markers = [m["blocks"][0]["block_id"] for m in parts]
    assert markers == [message_marker(HID, f"transcript:{i}") for i in range(len(parts))]
    assert len(parts) > 1, "a transcript this long needs more than one message"
    thread_text = _assert_clean(parts)
    assert f"Full transcript of {body['reference']} (part 1 of {len(parts)})" in thread_text
    # Every turn, whole, in order.
    positions = []
    for i in range(len(transcript)):
        assert f"start-{i} " in thread_text and f" end-{i}" in thread_text, i
        positions.append(thread_text.index(f"start-{i} "))
        if i % 7 == 3:
            assert f"t{i}w0 " in thread_text and f"t{i}w799 " in thread_text
    assert positions == sorted(positions)
    assert thread_text.count("&lt;!channel&gt;") >= len(
        [t for t in transcript if "<!" in t["text"]]
    )
    # Posted once each, even though the message was updated after the ticket arrived.
    assert len(desk.thread()) == len(parts)
    assert desk.slack.messages(CHANNEL) == [post]
