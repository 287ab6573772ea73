"""Money in integer minor units: ISO 4217 exponents, display, and what approvers type."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.approvals.money import (
    MINOR_UNIT_EXPONENTS,
    format_amount,
    minor_unit_exponent,
    parse_amount,
)


@pytest.mark.parametrize(
    ("currency", "exponent"),
    [
        ("usd", 2), ("EUR", 2), ("gbp", 2), ("jpy", 0), ("krw", 0), ("vnd", 0),
        ("clp", 0), ("isk", 0), ("ugx", 0), ("xaf", 0), ("xof", 0), ("xpf", 0),
        ("kwd", 3), ("bhd", 3), ("iqd", 3), ("jod", 3), ("lyd", 3), ("omr", 3), ("tnd", 3),
    ],
)  # fmt: skip
def test_exponents(currency: str, exponent: int) -> None:
    assert minor_unit_exponent(currency) == exponent


def test_every_code_in_the_table_is_sane() -> None:
    assert len(MINOR_UNIT_EXPONENTS) > 150
    for code, exponent in MINOR_UNIT_EXPONENTS.items():
        assert len(code) == 3 and code.isascii() and code.isupper()
        assert exponent in {0, 2, 3}


@pytest.mark.parametrize("currency", ["xxx", "XTS", "XAU", "CLF", "HRK", "abc", "us", "usdd", "",
                                      "1sd", "\uff35\uff33\uff24"])  # fmt: skip
def test_unknown_or_malformed_currency_refused(currency: str) -> None:
    with pytest.raises(ValueError):
        minor_unit_exponent(currency)
    with pytest.raises(ValueError):
        format_amount(100, currency)
    with pytest.raises(ValueError):
        parse_amount("1", currency)


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (1250, "usd", "USD 12.50"),
        (0, "usd", "USD 0.00"),
        (1, "usd", "USD 0.01"),
        (123456789, "usd", "USD 1,234,567.89"),
        (100000, "eur", "EUR 1,000.00"),
        (1250, "jpy", "JPY 1,250"),
        (1, "jpy", "JPY 1"),
        (1234567, "JPY", "JPY 1,234,567"),
        (1250, "kwd", "KWD 1.250"),
        (5, "bhd", "BHD 0.005"),
        (1234567890, "bhd", "BHD 1,234,567.890"),
        (10**24, "usd", "USD 10,000,000,000,000,000,000,000.00"),
    ],
)
def test_format(amount: int, currency: str, text: str) -> None:
    assert format_amount(amount, currency) == text


def test_format_refuses_negative_and_non_integers() -> None:
    with pytest.raises(ValueError, match="negative"):
        format_amount(-1, "usd")
    for bad in (12.5, 1250.0, "1250", True):
        with pytest.raises(TypeError):
            format_amount(bad, "usd")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "currency", "amount"),
    [
        ("12.5", "usd", 1250),
        ("12.50", "usd", 1250),
        ("12", "usd", 1200),
        ("0.01", "usd", 1),
        ("1,234.56", "usd", 123456),
        ("1234.56", "usd", 123456),
        ("1,234,567.89", "usd", 123456789),
        ("  12.50 ", "usd", 1250),
        ("USD 12.50", "usd", 1250),
        ("usd 12.50", "USD", 1250),
        ("1,250", "jpy", 1250),
        ("JPY 1250", "jpy", 1250),
        ("1.25", "kwd", 1250),
        ("1.250", "kwd", 1250),
        ("0.005", "bhd", 5),
        ("007.10", "usd", 710),
    ],
)
def test_parse(text: str, currency: str, amount: int) -> None:
    assert parse_amount(text, currency) == amount


@pytest.mark.parametrize(
    ("text", "currency", "message"),
    [
        ("12.505", "usd", "at most 2 decimals"),
        ("12.500", "usd", "at most 2 decimals"),
        ("1.2345", "kwd", "at most 3 decimals"),
        ("12.5", "jpy", "no decimals"),
        ("1250.0", "jpy", "no decimals"),
        ("0", "usd", "more than zero"),
        ("0.00", "usd", "more than zero"),
        ("-12.50", "usd", "more than zero"),
        ("EUR 12.50", "usd", "must be in USD"),
        ("12,50", "eur", "not an amount"),
        ("1,2345.00", "usd", "not an amount"),
        ("12.", "usd", "not an amount"),
        (".5", "usd", "not an amount"),
        ("1e3", "usd", "not an amount"),
        ("12.5.0", "usd", "not an amount"),
        ("$12.50", "usd", "not an amount"),
        ("+12", "usd", "not an amount"),
        ("١٢", "usd", "not an amount"),
        ("", "usd", "not an amount"),
        ("nan", "usd", "not an amount"),
        ("1" * 65, "usd", "too long"),
    ],
)
def test_parse_refusals(text: str, currency: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_amount(text, currency)


@given(
    amount=st.integers(min_value=1, max_value=10**24),
    currency=st.sampled_from(sorted(MINOR_UNIT_EXPONENTS)),
)
def test_parse_reads_back_what_format_wrote(amount: int, currency: str) -> None:
    text = format_amount(amount, currency)
    code, _, number = text.partition(" ")
    assert code == currency
    assert parse_amount(number, currency) == amount
    assert parse_amount(text, currency.lower()) == amount
    assert parse_amount(number.replace(",", ""), currency) == amount
