import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.text import escape_mrkdwn, mask_sensitive, safe_text, split_text, truncate

WORD_JOINER = "\u2060"
INJECTIONS = ["<!channel>", "<!here>", "<!everyone>", "<@U123>", "<https://evil|click>", "&<>"]
ENTITIES = re.compile(r"&(?:amp|lt|gt);")
BROADCAST = re.compile(r"@(?:channel|here|everyone)", re.IGNORECASE)


def unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def luhn_check_digit(body: str) -> str:
    total = 0
    for index, char in enumerate(reversed(body)):
        value = int(char)
        if index % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def group(digits: str, separator: str) -> str:
    return separator.join(digits[i : i + 4] for i in range(0, len(digits), 4))


# escape_mrkdwn


@pytest.mark.parametrize("payload", INJECTIONS)
def test_escaped_injection_reads_as_itself(payload: str) -> None:
    escaped = escape_mrkdwn(payload)

    assert "<" not in escaped and ">" not in escaped
    assert unescape(escaped) == payload


def test_escapes_ampersand_before_angle_brackets() -> None:
    assert escape_mrkdwn("&<>") == "&amp;&lt;&gt;"
    assert escape_mrkdwn("&lt;") == "&amp;lt;"


@pytest.mark.parametrize("text", ["@channel", "hi @here!", "@Everyone look", "@CHANNEL"])
def test_bare_broadcasts_are_neutralised(text: str) -> None:
    escaped = escape_mrkdwn(text)

    assert not BROADCAST.search(escaped)
    assert escaped.replace(WORD_JOINER, "") == text


def test_ordinary_text_is_untouched() -> None:
    text = "Hi, my order #42 is late :( *please* help - ada@example.com"

    assert escape_mrkdwn(text) == text


@given(st.text())
def test_escaped_output_has_no_markup_and_round_trips(text: str) -> None:
    escaped = escape_mrkdwn(text)

    assert "<" not in escaped and ">" not in escaped
    assert "&" not in ENTITIES.sub("", escaped)
    assert not BROADCAST.search(escaped)
    assert unescape(escaped).replace(WORD_JOINER, "") == text.replace(WORD_JOINER, "")


# mask_sensitive: cards


@pytest.mark.parametrize(
    "card",
    [
        "4111111111111111",
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "5555 5555 5555 4444",
        "3782 822463 10005",  # Amex, 15 digits
        "4222222222222",  # 13 digits
        "6011 0009 9013 9424",
    ],
)
def test_luhn_valid_cards_are_masked_to_last_four(card: str) -> None:
    masked = mask_sensitive(f"my card is {card}, thanks")

    assert masked == f"my card is •••• {card[-4:]}, thanks"


@pytest.mark.parametrize(
    "number",
    ["4111111111111112", "4111 1111 1111 1112", "1234567890123", "order 12345", "2024-01-15"],
)
def test_numbers_failing_luhn_or_too_short_are_untouched(number: str) -> None:
    assert mask_sensitive(number) == number


def test_card_followed_by_other_numbers_is_still_found() -> None:
    assert mask_sensitive("4111111111111111 123 12/27") == "•••• 1111 123 12/27"
    assert mask_sensitive("4111 1111 1111 1111 2024") == "•••• 1111 2024"


def test_more_than_nineteen_digits_is_not_a_card() -> None:
    assert mask_sensitive("41111111111111111111") == "41111111111111111111"


def test_double_separator_breaks_a_number() -> None:
    assert mask_sensitive("4111  1111  1111  1111") == "4111  1111  1111  1111"


@given(
    body=st.text(alphabet="0123456789", min_size=12, max_size=18),
    separator=st.sampled_from(["", " ", "-"]),
    before=st.text(alphabet="abc .,:", max_size=10),
    after=st.text(alphabet="abc .,:", max_size=10),
)
def test_any_luhn_valid_card_is_masked(body: str, separator: str, before: str, after: str) -> None:
    digits = body + luhn_check_digit(body)
    masked = mask_sensitive(f"{before} {group(digits, separator)} {after}")

    assert digits not in re.sub(r"\D", "", masked)
    assert f"•••• {digits[-4:]}" in masked


# mask_sensitive: secrets


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("password: hunter2", "password: [redacted]"),
        ("Password=hunter2 and more", "Password=[redacted] and more"),
        ("my passwd:abc123", "my passwd:[redacted]"),
        ("pwd = s3cr3t!", "pwd = [redacted]"),
        ("passcode: 8812", "passcode: [redacted]"),
        ("client_secret=abc.def", "client_secret=[redacted]"),
        ("api key: AbC123", "api key: [redacted]"),
        ("API_KEY=AbC123", "API_KEY=[redacted]"),
        ("apikey=AbC123", "apikey=[redacted]"),
        ("token=abc def", "token=[redacted] def"),
        ('"password": "hunter2"', '"password": [redacted]'),
        ("Authorization: Bearer abc.def-ghi_123", "Authorization: Bearer [redacted]"),
        ("bearer AbCdEfGhIjKl", "bearer [redacted]"),
    ],
)
def test_secret_values_are_redacted(text: str, expected: str) -> None:
    assert mask_sensitive(text) == expected


@pytest.mark.parametrize(
    "key",
    [
        "sk_live_51HxAbCdEfGhIjKlMn",
        "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
        "rk_live_51HxAbCdEfGhIjKlMn",
        "xoxb-1234567890-abcdefghij",
        "xoxp-1234-5678-abcdef",
        "xapp-1-A0123-456789-abcdef",
        "AKIAIOSFODNN7EXAMPLE",
        "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "gho_abcdefghijklmnopqrstuvwxyz",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    ],
)
def test_well_known_key_shapes_are_redacted_anywhere(key: str) -> None:
    assert mask_sensitive(f"here you go ({key}) ok") == "here you go ([redacted]) ok"


@pytest.mark.parametrize(
    "text",
    [
        "I forgot my password, can you help?",
        "the secret is out",
        "a bearer token is needed",
        "tokens: 5",
        "my desk key is lost",
    ],
)
def test_prose_mentioning_secrets_is_untouched(text: str) -> None:
    assert mask_sensitive(text) == text


# safe_text


def test_safe_text_masks_then_escapes() -> None:
    text = "<!channel> card 4111 1111 1111 1111 & password=<hunter2>"

    assert safe_text(text) == "&lt;!channel&gt; card •••• 1111 &amp; password=[redacted]"


@given(st.text())
def test_safe_text_is_always_inert(text: str) -> None:
    safe = safe_text(text)

    assert "<" not in safe and ">" not in safe
    assert "&" not in ENTITIES.sub("", safe)
    assert not BROADCAST.search(safe)


# truncate


def test_short_text_is_returned_as_is() -> None:
    assert truncate("hello", 5) == "hello"


def test_long_text_is_cut_with_suffix() -> None:
    assert truncate("hello world", 8) == "hello w…"
    assert truncate("hello world", 8, suffix="...") == "hello..."


def test_cut_inside_an_entity_moves_before_it() -> None:
    assert truncate("ab &amp; cd", 6) == "ab …"
    assert truncate("ab &lt;", 6) == "ab …"


def test_limit_smaller_than_suffix() -> None:
    assert truncate("hello", 0) == ""
    assert truncate("hello", 2, suffix="...") == ".."


@given(st.text(), st.integers(min_value=0, max_value=200), st.sampled_from(["…", "...", ""]))
def test_truncate_never_exceeds_the_limit(text: str, limit: int, suffix: str) -> None:
    result = truncate(text, limit, suffix=suffix)

    assert len(result) <= limit
    if len(text) <= limit:
        assert result == text


@given(st.text(), st.integers(min_value=2, max_value=200))
def test_truncated_escaped_text_never_ends_in_half_an_entity(text: str, limit: int) -> None:
    escaped = escape_mrkdwn(text)
    result = truncate(escaped, limit)
    body = result[:-1] if result != escaped else result

    assert escaped.startswith(body)
    assert "&" not in ENTITIES.sub("", body)


# split_text


@given(st.text(), st.integers(min_value=6, max_value=300))
def test_split_text_pieces_fit_and_rejoin(text: str, limit: int) -> None:
    escaped = escape_mrkdwn(text)
    pieces = split_text(escaped, limit)

    assert "".join(pieces) == escaped
    assert all(len(piece) <= limit for piece in pieces)
    assert all("&" not in ENTITIES.sub("", piece) for piece in pieces)
