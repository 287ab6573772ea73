"""The `/desk` text parser: every form, its spellings, and what falls through to Unknown."""

from __future__ import annotations

import dataclasses

import pytest

from bot.desk_command import (
    DESK_HELP,
    Available,
    Away,
    DeskCommand,
    Help,
    ListOpen,
    ReturnToBot,
    Status,
    Unknown,
    parse_desk_command,
    parse_reference,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", Help()),
        ("   ", Help()),
        ("\n\t", Help()),
        ("help", Help()),
        ("HELP", Help()),
        ("available", Available()),
        ("Available", Available()),
        ("  available  ", Available()),
        ("away", Away()),
        ("AWAY", Away()),
        ("list", ListOpen()),
        (" List ", ListOpen()),
        ("status", Status()),
        ("StAtUs", Status()),
        ("return DH-1234", ReturnToBot(reference="DH-1234")),
        ("return dh-1234", ReturnToBot(reference="DH-1234")),
        ("RETURN Dh-ab12cd", ReturnToBot(reference="DH-AB12CD")),
        ("  return \t  DH-42AB  ", ReturnToBot(reference="DH-42AB")),
        ("return DH-ABCDEFGHIJKL", ReturnToBot(reference="DH-ABCDEFGHIJKL")),
        ("return\u00a0DH-1234", ReturnToBot(reference="DH-1234")),
    ],
)
def test_known_commands(text: str, expected: DeskCommand) -> None:
    assert parse_desk_command(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("dance", Unknown(text="dance")),
        ("  Dance   now ", Unknown(text="Dance now")),
        ("available now", Unknown(text="available now")),
        ("away please", Unknown(text="away please")),
        ("help me", Unknown(text="help me")),
        ("return", Unknown(text="return")),
        ("return DH-123", Unknown(text="return DH-123")),  # too short
        ("return DH-ABCDEFGHIJKLM", Unknown(text="return DH-ABCDEFGHIJKLM")),  # too long
        ("return 1234", Unknown(text="return 1234")),
        ("return DH1234", Unknown(text="return DH1234")),
        ("return DH-12_34", Unknown(text="return DH-12_34")),
        ("return XDH-1234", Unknown(text="return XDH-1234")),
        ("return DH-1234 DH-5678", Unknown(text="return DH-1234 DH-5678")),
        ("return DH-\u0131\u0131\u0131\u0131", Unknown(text="return DH-\u0131\u0131\u0131\u0131")),
        ("DH-1234", Unknown(text="DH-1234")),
        ("availble", Unknown(text="availble")),
    ],
)
def test_everything_else_is_unknown(text: str, expected: DeskCommand) -> None:
    assert parse_desk_command(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("DH-1234", "DH-1234"),
        ("dh-abcd", "DH-ABCD"),
        (" DH-0000AAAA1111 ", "DH-0000AAAA1111"),
        ("DH-123", None),
        ("DH-", None),
        ("", None),
        ("DH-12 34", None),
        ("DH-\ufb00\ufb00", None),  # the "ff" ligature upper-cases to "FF"
    ],
)
def test_parse_reference(text: str, expected: str | None) -> None:
    assert parse_reference(text) == expected


def test_commands_are_frozen() -> None:
    command = ReturnToBot(reference="DH-1234")
    with pytest.raises(dataclasses.FrozenInstanceError):
        command.reference = "DH-5678"  # type: ignore[misc]


@pytest.mark.parametrize(
    "snippet",
    [
        "/desk available",
        "/desk away",
        "/desk list",
        "/desk status",
        "/desk return DH-1234",
        "/desk help",
        "`//`",
        "`note:`",
    ],
)
def test_help_mentions(snippet: str) -> None:
    assert snippet in DESK_HELP
