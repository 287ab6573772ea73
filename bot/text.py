"""Text safety for customer-provided text on its way to Slack.

Customer text is untrusted: it must never ping anyone, never render as a link or a mention,
and never put a card number or a secret in front of every agent in the channel.
`safe_text` is the one function other code calls for such text.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right

REDACTED = "[redacted]"
CARD_MASK = "•••• "
WORD_JOINER = "\u2060"

_BROADCAST = re.compile(r"@(?=(?:channel|here|everyone))", re.IGNORECASE)

_KEY_SHAPES = re.compile(
    r"(?<![A-Za-z0-9_])(?:"
    r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{8,}"
    r"|rk_[A-Za-z0-9]{16,}"
    r"|whsec_[A-Za-z0-9]{16,}"
    r"|xox[abprs]-[A-Za-z0-9-]{8,}"
    r"|xapp-[A-Za-z0-9-]{8,}"
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}"
    r"|gh[pousr]_[A-Za-z0-9]{20,}"
    r"|github_pat_[A-Za-z0-9_]{20,}"
    r"|eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"
    r")"
)
# The keyword and its separator stay visible so the agent knows what was said; the value goes.
_KEYWORD_VALUE = re.compile(
    r"(?P<key>(?:password|passwd|pwd|passcode|secret|api[ _-]?key|token)[\"']?\s*[:=]\s*)"
    r"(?P<value>\S+)",
    re.IGNORECASE,
)
_BEARER = re.compile(r"\b(?P<key>bearer[ \t]+)(?P<value>[A-Za-z0-9\-._~+/]+=*)", re.IGNORECASE)
_DIGIT_RUN = re.compile(r"\d+(?:[ -]\d+)*")
_DIGIT_GROUP = re.compile(r"\d+")
_ENTITY = re.compile(r"&(?:[A-Za-z]{1,10}|#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6});")

_CARD_MIN_DIGITS = 13
_CARD_MAX_DIGITS = 19
_BEARER_MIN_LENGTH = 8


def escape_mrkdwn(text: str) -> str:
    """Make text display as itself in Slack: no links, mentions, or broadcasts."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BROADCAST.sub("@" + WORD_JOINER, escaped)


def mask_sensitive(text: str) -> str:
    """Hide Luhn-valid card numbers (last four kept) and anything that looks like a secret."""
    masked = _KEY_SHAPES.sub(REDACTED, text)
    masked = _KEYWORD_VALUE.sub(lambda m: m["key"] + REDACTED, masked)
    masked = _BEARER.sub(_mask_bearer, masked)
    return _DIGIT_RUN.sub(_mask_cards_in_run, masked)


def safe_text(text: str) -> str:
    """The form of customer-provided text that may be put into any Slack text field."""
    return escape_mrkdwn(mask_sensitive(text))


def truncate(text: str, limit: int, *, suffix: str = "…") -> str:
    """Shorten text to at most `limit` characters without cutting an `&…;` entity in half."""
    if limit < 0:
        raise ValueError("limit must not be negative")
    if len(text) <= limit:
        return text
    if len(suffix) >= limit:
        return suffix[:limit]
    cut = _entity_safe_cut(text, limit - len(suffix))
    return text[:cut] + suffix


def split_text(text: str, limit: int) -> list[str]:
    """Split text into pieces of at most `limit` characters, preferring to break at
    whitespace, never cutting an `&…;` entity in half."""
    if limit < 1:
        raise ValueError("limit must be positive")
    pieces: list[str] = []
    start = 0
    while len(text) - start > limit:
        cut = _entity_safe_cut(text, start + limit)
        floor = start + limit * 4 // 5
        space = max(text.rfind("\n", floor, cut), text.rfind(" ", floor, cut))
        if space != -1:
            cut = space + 1
        if cut == start:
            cut = start + limit  # an entity longer than the whole limit: it has to give
        pieces.append(text[start:cut])
        start = cut
    if start < len(text) or not pieces:
        pieces.append(text[start:])
    return pieces


def _mask_bearer(match: re.Match[str]) -> str:
    value = match["value"]
    # "a bearer token" is prose; a real token has digits or symbols, or is long and mixed-case.
    if value.isalpha() and (len(value) < _BEARER_MIN_LENGTH or value.islower()):
        return match[0]
    return match["key"] + REDACTED


def _mask_cards_in_run(match: re.Match[str]) -> str:
    """Mask every Luhn-valid card inside a run of digit groups, longest from the left."""
    run = match[0]
    groups = list(_DIGIT_GROUP.finditer(run))
    digits = "".join(group[0] for group in groups)
    if len(digits) < _CARD_MIN_DIGITS:
        return run
    # bounds[i] is where group i starts within `digits`; bounds[-1] is the end.
    bounds = [0]
    for group in groups:
        bounds.append(bounds[-1] + len(group[0]))
    luhn = _LuhnSums(digits)
    pieces: list[str] = []
    position = 0
    start = 0
    while start < len(groups):
        end = _card_end(bounds, start, luhn)
        if end is None:
            start += 1
            continue
        pieces.append(run[position : groups[start].start()])
        pieces.append(CARD_MASK + digits[bounds[end + 1] - 4 : bounds[end + 1]])
        position = groups[end].end()
        start = end + 1
    pieces.append(run[position:])
    return "".join(pieces)


def _card_end(bounds: list[int], start: int, luhn: _LuhnSums) -> int | None:
    """The last group of the longest Luhn-valid card number starting at group `start`."""
    first = bisect_left(bounds, bounds[start] + _CARD_MIN_DIGITS, lo=start + 1)
    last = bisect_right(bounds, bounds[start] + _CARD_MAX_DIGITS, lo=start + 1)
    for stop in range(last - 1, first - 1, -1):
        if luhn.valid(bounds[start], bounds[stop]):
            return stop - 1
    return None


class _LuhnSums:
    """Answers "is digits[a:b] Luhn-valid?" in constant time, so that a long run of digits
    (a 1 MiB webhook body of them) costs linear time, not a checksum per candidate."""

    def __init__(self, digits: str) -> None:
        # _even sums digits doubling those at odd indexes; _odd doubles those at even ones.
        self._even = [0]
        self._odd = [0]
        for index, char in enumerate(digits):
            value = int(char)
            doubled = value * 2 - 9 if value > 4 else value * 2
            at_even = index % 2 == 0
            self._even.append(self._even[-1] + (value if at_even else doubled))
            self._odd.append(self._odd[-1] + (doubled if at_even else value))

    def valid(self, start: int, stop: int) -> bool:
        # Counting from the check digit (never doubled), every second digit is doubled.
        sums = self._even if (stop - 1) % 2 == 0 else self._odd
        return (sums[stop] - sums[start]) % 10 == 0


def _entity_safe_cut(text: str, cut: int) -> int:
    """`cut`, moved back before an `&…;` entity it would otherwise split."""
    amp = text.rfind("&", max(0, cut - 16), cut)
    if amp != -1:
        entity = _ENTITY.match(text, amp)
        if entity is not None and entity.end() > cut:
            return amp
    return cut
