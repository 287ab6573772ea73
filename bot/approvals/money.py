"""Money as integer minor units: formatting for Slack and parsing what an approver types.

Amounts are never floats. An amount is an `int` count of the currency's minor units
(cents for USD, yen for JPY, fils for KWD), scaled by the ISO 4217 exponent below.
The display style is the code, a space, then the amount with `,` thousands separators and
`.` before the fraction: "USD 1,234.50", "JPY 1,250", "KWD 1.250". A currency code is never
ambiguous the way a "$" is (USD, CAD, AUD…).
"""

from __future__ import annotations

import re
from types import MappingProxyType

# ISO 4217 (List One, current currencies) minor units, ISO 4217's "E" column.
# Deliberately absent: funds codes (BOV, CHE, CHW, CLF, COU, MXV, USN, UYI, UYW), precious
# metals, SDR and bond-market units (XAU, XAG, XPD, XPT, XDR, XBA-XBD, XSU, XUA), the test
# codes (XTS and the "no currency" one), and withdrawn currencies (HRK, SLL, ZWL, ...). No payment
# is made in those, so a refund request naming one is refused as an unknown currency.
# Not taken from babel: CLDR's display digits differ from ISO 4217 (0 for IQD, MGA, LAK, IRR,
# RSD, ...), and Stripe has its own list; the contract's `amount_minor` is ISO 4217 minor units.


def _codes(table: str) -> frozenset[str]:
    return frozenset(table.split())


_ZERO_DECIMAL = _codes("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF")
_THREE_DECIMAL = _codes("BHD IQD JOD KWD LYD OMR TND")
_TWO_DECIMAL = _codes(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD BTN BWP BYN
    BZD CAD CDF CHF CNY COP CRC CUC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL
    GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP
    LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR
    NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP
    STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD UYU UZS VED VES WST XCD XCG YER
    ZAR ZMW ZWG
    """
)

MINOR_UNIT_EXPONENTS: MappingProxyType[str, int] = MappingProxyType(
    {
        **dict.fromkeys(_TWO_DECIMAL, 2),
        **dict.fromkeys(_ZERO_DECIMAL, 0),
        **dict.fromkeys(_THREE_DECIMAL, 3),
    }
)

# What an approver may type: plain digits, or digits grouped by threes with commas, then an
# optional `.` and fraction. "12,50" is refused rather than guessed: in much of the world
# that means twelve and a half, and guessing wrong would refund a hundred times too much.
_AMOUNT = re.compile(
    r"(?P<whole>[0-9]+|[0-9]{1,3}(?:,[0-9]{3})+)(?:\.(?P<fraction>[0-9]+))?", re.ASCII
)
_CODE_PREFIX = re.compile(r"(?P<code>[A-Za-z]{3})\s+", re.ASCII)
MAX_AMOUNT_TEXT = 64


def _normalise_code(currency: str) -> str:
    if not isinstance(currency, str) or not re.fullmatch(r"[A-Za-z]{3}", currency, re.ASCII):
        raise ValueError(f"not a currency code: {currency!r}")
    return currency.upper()


def minor_unit_exponent(currency: str) -> int:
    """The ISO 4217 number of decimals of `currency` (any case); ValueError if unknown."""
    code = _normalise_code(currency)
    try:
        return MINOR_UNIT_EXPONENTS[code]
    except KeyError:
        raise ValueError(f"unknown currency: {code}") from None


def format_amount(amount_minor: int, currency: str) -> str:
    """`amount_minor` minor units of `currency` for display: 123456 usd -> "USD 1,234.56"."""
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
        raise TypeError(f"amount must be an int of minor units, not {type(amount_minor).__name__}")
    if amount_minor < 0:
        raise ValueError("amount must not be negative")
    code = _normalise_code(currency)
    exponent = minor_unit_exponent(code)
    scale: int = 10**exponent
    whole, fraction = divmod(amount_minor, scale)
    text = f"{whole:,}"
    if exponent:
        text += f".{fraction:0{exponent}d}"
    return f"{code} {text}"


def parse_amount(text: str, currency: str) -> int:
    """What an approver typed ("12.5", "1,234.56", "USD 12.50") as minor units of `currency`.

    Refuses, with a ValueError whose message can be shown to the approver: anything that is
    not a plain positive amount, more decimals than the currency has, zero, and a currency
    code that is not `currency`.
    """
    code = _normalise_code(currency)
    exponent = minor_unit_exponent(code)
    if len(text) > MAX_AMOUNT_TEXT:
        raise ValueError("that amount is too long")
    body = text.strip()
    prefix = _CODE_PREFIX.match(body)
    if prefix:
        if prefix["code"].upper() != code:
            raise ValueError(f"the amount must be in {code}")
        body = body[prefix.end() :]
    match = _AMOUNT.fullmatch(body)
    if match is None and body.startswith("-"):
        raise ValueError("the amount must be more than zero")
    if match is None:
        raise ValueError(f"not an amount: write it like {format_amount(123456, code)[4:]}")
    fraction = match["fraction"] or ""
    if len(fraction) > exponent:
        if exponent == 0:
            raise ValueError(f"{code} amounts have no decimals")
        raise ValueError(f"{code} amounts have at most {exponent} decimals")
    whole = int(match["whole"].replace(",", ""))
    scale: int = 10**exponent
    amount = whole * scale + int(fraction.ljust(exponent, "0") or "0")
    if amount <= 0:
        raise ValueError("the amount must be more than zero")
    return amount
