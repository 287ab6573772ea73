"""Hypothesis strategies for hostile input: text, JSON values and raw bodies an attacker
(or a buggy client) would send. Shared by the hostile-input tests and bench/hostile_soak.py.

Text draws on the characters that break things: NUL and other controls, lone surrogates
(sent as ``\\ud800`` escapes, which JSON allows and Python decodes), characters outside the
BMP, combining marks, right-to-left overrides, and markup Slack or HTML would interpret.
"""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import strategies as st

MIB = 1024 * 1024

# A few of each kind, so that short strings still hit them often.
NASTY_CHARS = (
    "\x00\x01\x08\x0b\x1b\x7f"  # NUL and other controls
    "\u0085\u2028\u2029\ufeff\u200b\u200d"  # odd line breaks, BOM, zero-width
    "\u202e\u2066"  # right-to-left override, isolate
    "\ud800\udfff"  # lone surrogates
    "\u0301\u0336"  # combining marks
    "é²ß𝔘😀🏳️‍🌈中"  # non-ASCII, outside the BMP, an emoji sequence
    "<>&\"'\\`*_~|@#:"  # markup: Slack mrkdwn, HTML, JSON escapes
    " \t\n\r"
)
nasty_char = st.sampled_from(NASTY_CHARS)
plain_char = st.characters(codec="utf-8") | st.characters(max_codepoint=0x7E, min_codepoint=0x20)
hostile_char = st.one_of(nasty_char, plain_char, st.characters())
hostile_unit = st.text(hostile_char, min_size=1, max_size=8)

SURROGATE = re.compile("[\ud800-\udfff]")


def has_surrogate(text: str) -> bool:
    return SURROGATE.search(text) is not None


def as_stored(text: str) -> str:
    """What deskhand stores for ``text``: NUL becomes U+FFFD (the contract), and so does a
    lone surrogate, when deskhand takes one (it may refuse it instead). A high surrogate
    followed by a low one travels as a pair of escapes, which JSON reads as one character."""
    decoded = json.loads(json.dumps(text, ensure_ascii=True))
    return SURROGATE.sub("\ufffd", decoded.replace("\x00", "\ufffd"))


@st.composite
def text_of_length(draw: st.DrawFn, length: int) -> str:
    """Hostile text of exactly ``length`` code points, cheap even for 20,000: a short
    hostile unit repeated."""
    if length == 0:
        return ""
    unit = draw(hostile_unit)
    return (unit * (length // len(unit) + 1))[:length]


def hostile_text(max_size: int = 40) -> st.SearchStrategy[str]:
    return st.text(hostile_char, max_size=max_size)


def lengths_around(low: int, high: int) -> st.SearchStrategy[int]:
    """Lengths just inside and just outside ``[low, high]``, and some in between."""
    edges = sorted({max(low - 1, 0), low, high, high + 1})
    return st.one_of(st.sampled_from(edges), st.integers(low, min(high, low + 30)))


huge_numbers = st.sampled_from(
    [2**53, 2**63, -(2**63) - 1, 10**400, 1e308, -0.0, 1e-320, 0.1 + 0.2]
)
json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    huge_numbers,
    st.floats(allow_nan=False, allow_infinity=False),
    hostile_text(),
)
json_value = st.recursive(
    json_scalar,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(hostile_text(12), inner, max_size=4)
    ),
    max_leaves=12,
)


def deep_nesting(depth: int) -> bytes:
    """``[[[...]]]`` or ``{"a":{"a":...}}`` ``depth`` levels deep."""
    return b"[" * depth + b"]" * depth


@st.composite
def hostile_json_body(draw: st.DrawFn) -> bytes:
    """Bytes that are JSON, almost JSON, or nothing like it."""
    kind = draw(st.sampled_from(["value", "binary", "text", "nested", "nonfinite", "dupe"]))
    if kind == "value":
        return json.dumps(draw(json_value)).encode()
    if kind == "binary":
        return draw(st.binary(max_size=300))
    if kind == "text":
        return draw(hostile_text(200)).encode("utf-8", "surrogatepass")
    if kind == "nested":
        depth = draw(st.sampled_from([64, 1000, 100_000]))
        return (
            deep_nesting(depth) if draw(st.booleans()) else b'{"a":' * depth + b"1" + b"}" * depth
        )
    if kind == "nonfinite":
        return draw(st.sampled_from([b"NaN", b"[Infinity]", b'{"x": -Infinity}', b"1e999999"]))
    # JSON with a key twice, the last one wins in Python.
    return b'{"handoff_id": "a", "handoff_id": {"$gt": ""}}'


def encode(value: Any) -> bytes:
    """JSON as a client would send it; lone surrogates travel as ``\\udXXX`` escapes."""
    return json.dumps(value, ensure_ascii=True).encode()


# (Content-Type sent, whether a JSON endpoint must take it as JSON).
CONTENT_TYPES: list[tuple[str | None, bool]] = [
    ("application/json", True),
    ("application/json; charset=utf-8", True),
    ("Application/JSON", True),
    ("text/plain", False),
    ("application/x-www-form-urlencoded", False),
    ("multipart/form-data; boundary=x", False),
    ("application/jsonx", False),
    ("", False),
    (None, False),
]
