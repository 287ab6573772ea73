"""Payloads drawn from docs/openapi.yaml, each with the answer the document promises.

``payloads(name)`` draws instances of the named component schema that are valid, or break
one or more of its constraints (a length one past the maximum, a pattern, an enum, a type,
an item count, a required field left out, an unknown field where none is allowed), with
hostile text everywhere. Each comes with a verdict:

* ``VALID``: the document accepts it, so deskhand must (202 or 200);
* ``INVALID``: it breaks the document, so deskhand must answer 422;
* ``EITHER``: the document does not decide (a lone surrogate, ``null`` for an optional
  field, a boolean for a number): any documented answer but a 5xx.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from hypothesis import strategies as st

from tests.support.hostile_text import (
    MIB,
    has_surrogate,
    hostile_text,
    hostile_unit,
    json_value,
    lengths_around,
)
from tests.support.openapi_doc import load_openapi

VALID, EITHER, INVALID = 0, 1, 2
Schema = dict[str, Any]
CURRENCY = "^[a-z]{3}$"
KNOWN_CURRENCIES = ["usd", "eur", "gbp", "jpy", "kwd", "chf"]


@dataclass(frozen=True)
class Drawn:
    value: Any
    verdict: int


def worst(verdicts: list[int]) -> int:
    return max(verdicts, default=VALID)


@cache
def _components() -> dict[str, Schema]:
    return dict(load_openapi()["components"]["schemas"])


def schema(name: str) -> Schema:
    return _components()[name]


def _resolve(node: Schema) -> Schema:
    while "$ref" in node:
        node = schema(node["$ref"].rsplit("/", 1)[-1])
    return node


def string_verdict(node: Schema, text: str) -> int:
    """What the document says of ``text`` for a string schema ``node``."""
    if "enum" in node and text not in node["enum"]:
        return INVALID
    if not node.get("minLength", 0) <= len(text) <= node.get("maxLength", 10**9):
        return INVALID
    pattern = node.get("pattern")
    if pattern is not None and re.search(pattern, text) is None:
        return INVALID
    if pattern == CURRENCY and text not in KNOWN_CURRENCIES:
        return EITHER  # documented: unknown ISO 4217 codes are refused; we know only these
    return EITHER if has_surrogate(text) else VALID


_ID_CHARS = "abcXYZ019:_.-"
_LETTERS = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz "), min_size=1, max_size=12)


def _within(low: int, high: int) -> st.SearchStrategy[int]:
    return st.sampled_from([low, high]) | st.integers(low, min(high, low + 30))


def _faulty(draw: st.DrawFn, rate: int) -> bool:
    """Whether this part of the payload breaks the document (``rate`` in percent)."""
    return rate > 0 and draw(st.integers(0, 99)) < rate


@st.composite
def _repeated(
    draw: st.DrawFn, lengths: st.SearchStrategy[int], units: st.SearchStrategy[str]
) -> str:
    """A unit repeated to a drawn length: cheap even for 20,000 characters."""
    length = draw(lengths)
    unit = draw(units)
    return (unit * length)[:length] if length else ""


_CHARS_REFUSED_IN_IDS = st.sampled_from(" /\x00é\ud800%#?")


@st.composite
def _break_one(draw: st.DrawFn, texts: st.SearchStrategy[str]) -> str:
    """One character replaced by one that an id's pattern refuses."""
    text = draw(texts)
    spot = draw(st.integers(0, max(len(text) - 1, 0)))
    return text[:spot] + draw(_CHARS_REFUSED_IN_IDS) + text[spot + 1 :]


def _moments() -> st.SearchStrategy[str]:
    # From year 1000: strftime's %Y does not pad earlier years to four digits.
    moments = st.datetimes(min_value=datetime(1000, 1, 1), timezones=st.just(UTC))
    return moments.map(lambda m: m.isoformat()) | moments.map(
        lambda m: m.strftime("%Y-%m-%dT%H:%M:%SZ")
    )


def _urls(high: int, faulty: bool) -> st.SearchStrategy[str]:
    if faulty:
        bad = st.sampled_from(["javascript:alert(1)", "ftp://x.example/", "//x", "h ttp://x"])
        return bad | st.just("https://a.example/" + "a" * (high - 17))  # one past the maximum
    paths = st.text(st.sampled_from("abz09-._~/"), max_size=40)
    hosts = st.sampled_from(["https://help.example.com/", "HTTP://kb.example/"])
    good = st.tuples(hosts, paths).map("".join)
    return good | st.just("https://a.example/" + "a" * (high - 18))  # the maximum


def _ids(low: int, high: int, pattern: str, faulty: bool) -> st.SearchStrategy[str]:
    lengths = lengths_around(low, high).filter(bool) if faulty else _within(max(low, 1), high)
    if "pi|ch" in pattern:
        units = st.text(st.sampled_from("abcXYZ019"), min_size=1, max_size=6)
        texts = st.tuples(st.sampled_from(["pi_", "ch_"]), _repeated(lengths, units)).map(
            lambda pair: (pair[0] + pair[1])[: max(len(pair[1]), 1)]
        )
    else:
        texts = _repeated(lengths, st.text(st.sampled_from(_ID_CHARS), min_size=1, max_size=6))
    return _break_one(texts) if faulty else texts


_texts: dict[tuple[int, bool], st.SearchStrategy[str]] = {}


def _text_for(node: Schema, faulty: bool) -> st.SearchStrategy[str]:
    key = (id(node), faulty)
    if key not in _texts:
        _texts[key] = _build_texts(node, faulty)
    return _texts[key]


def _build_texts(node: Schema, faulty: bool) -> st.SearchStrategy[str]:
    low, high = node.get("minLength", 0), node.get("maxLength", 2000)
    pattern = node.get("pattern", "")
    if "enum" in node:
        valid = st.sampled_from([str(v) for v in node["enum"]])
        return valid | hostile_text(12) if faulty else valid
    if node.get("format") == "date-time":
        return _LETTERS if faulty else _moments()
    if node.get("format") == "uri":
        return _urls(high, faulty)
    if pattern.startswith("^[A-Za-z0-9:_.-]") or pattern.startswith("^(pi|ch)_"):
        return _ids(low, high, pattern, faulty)
    if pattern == CURRENCY:
        known = st.sampled_from(KNOWN_CURRENCIES)
        return known | st.from_regex(pattern, fullmatch=True) if faulty else known
    if pattern and not pattern.startswith("\\S"):  # a language tag (from_regex is slow)
        tags = st.sampled_from(["en", "de", "es", "pt-BR", "zh-Hant-TW", "x" * 8 + "-1" * 13])
        bad = st.sampled_from(["e", "en_US", "de-", "x" * 36, "123", "en-\x00"])
        return tags | bad | _LETTERS if faulty else tags
    lengths = lengths_around(low, high) if faulty else _within(low, high)
    return _repeated(lengths, hostile_unit)


@st.composite
def _string(draw: st.DrawFn, node: Schema, optional: bool, rate: int) -> Drawn:
    faulty = _faulty(draw, rate)
    if faulty:
        roll = draw(st.integers(0, 9))
        if roll == 0:
            other = draw(st.integers() | st.booleans() | st.lists(st.integers(), max_size=2))
            return Drawn(other, INVALID)
        if roll == 1:  # pydantic takes null for an optional field; the document is silent
            return Drawn(None, EITHER if optional else INVALID)
    text = draw(_text_for(node, faulty))
    if faulty and node.get("format") == "date-time":
        return Drawn(text, INVALID)  # letters, not a time
    return Drawn(text, string_verdict(node, text))


@st.composite
def _number(draw: st.DrawFn, node: Schema, optional: bool, rate: int) -> Drawn:
    low, high = node.get("minimum"), node.get("maximum")
    integer = node["type"] == "integer"
    lo = low if low is not None else -(2**63)
    hi = high if high is not None else 2**63
    if not _faulty(draw, rate):
        edges = st.sampled_from([lo, hi])
        value: Any = draw(edges | (st.integers(int(lo), int(hi)) if integer else st.floats(lo, hi)))
        return Drawn(value, VALID)
    roll = draw(st.integers(0, 4))
    if roll == 0:
        return Drawn(draw(st.sampled_from([lo - 1, hi + 1, 10**30, -(10**30)])), INVALID)
    if roll == 1:
        if integer:  # documented: 12.5, 1250.0 and "1250" are refused
            return Drawn(draw(st.sampled_from([12.5, 1250.0, "1250", 1e3])), INVALID)
        return Drawn(draw(st.sampled_from([lo - 0.5, hi + 0.001, "x"])), INVALID)
    if roll == 2:
        return Drawn(draw(st.booleans()), EITHER if not integer else INVALID)
    if roll == 3:
        return Drawn(None, EITHER if optional else INVALID)
    return Drawn(draw(st.lists(st.integers(), max_size=2) | hostile_text(5)), INVALID)


@st.composite
def _array(draw: st.DrawFn, node: Schema, rate: int) -> Drawn:
    most = node.get("maxItems", 50)
    faulty = _faulty(draw, rate)
    if faulty and draw(st.booleans()):
        return Drawn(draw(st.sampled_from([{}, "[]", 1])), INVALID)
    if faulty or draw(st.integers(0, 14)) == 0:  # the maximum count, or one past, of one item
        item = draw(drawn(node["items"], rate=rate))
        count = most + 1 if faulty else most
        if len(json.dumps(item.value)) * count <= 2 * MIB:  # bigger only repeats a 413
            return Drawn([item.value] * count, worst([item.verdict, INVALID if faulty else VALID]))
    items = draw(st.lists(drawn(node["items"], rate=rate), max_size=min(most, 3)))
    return Drawn([i.value for i in items], worst([i.verdict for i in items]))


@st.composite
def _object(draw: st.DrawFn, node: Schema, rate: int) -> Drawn:
    faulty = _faulty(draw, rate)
    if faulty and draw(st.integers(0, 2)) == 0:
        return Drawn(draw(st.sampled_from([[], "{}", 0, None])), INVALID)
    required = set(node.get("required", []))
    missing = draw(st.sampled_from(sorted(required))) if faulty and required else None
    value: dict[str, Any] = {}
    verdicts: list[int] = [INVALID] if missing else []
    for key, prop in node.get("properties", {}).items():
        if key == missing or (key not in required and draw(st.booleans())):
            continue
        part = draw(drawn(prop, optional=key not in required, rate=rate))
        value[key] = part.value
        verdicts.append(part.verdict)
    strict = node.get("additionalProperties") is False
    if (faulty and strict) or (not strict and draw(st.integers(0, 9)) == 0):
        known = node.get("properties", {})
        extra = draw(hostile_text(10).filter(lambda k: k not in known))
        value[extra] = draw(json_value)
        verdicts.append(INVALID if strict else VALID)
    return Drawn(value, worst(verdicts))


_built: dict[tuple[int, bool, int], st.SearchStrategy[Drawn]] = {}


def drawn(node: Schema, *, optional: bool = False, rate: int = 0) -> st.SearchStrategy[Drawn]:
    # Built once per schema node: building strategies is most of the cost of drawing.
    node = _resolve(node)
    key = (id(node), optional, rate)
    if key not in _built:
        _built[key] = _build(node, optional, rate)
    return _built[key]


def _build(node: Schema, optional: bool, rate: int) -> st.SearchStrategy[Drawn]:
    kind = node.get("type")
    if kind == "object":
        return _object(node, rate)
    if kind == "array":
        return _array(node, rate)
    if kind in ("integer", "number"):
        return _number(node, optional, rate)
    return _string(node, optional, rate)


def payloads(name: str) -> st.SearchStrategy[Drawn]:
    """Instances of the component schema ``name``, with their verdicts: about half of them
    valid, the rest with one or a few faults, or many."""
    rates = st.sampled_from([0, 0, 0, 3, 10, 40])
    return rates.flatmap(lambda rate: drawn(schema(name), rate=rate))
