"""Customer-facing texts: shipped locales, fallback, team overrides, validation at load."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.customer_messages import PLACEHOLDERS, CustomerMessages, MessageKey, MessagesError
from bot.customer_messages.templates import compile_template

SHIPPED = ("de", "en", "es")
SAMPLE: dict[str, str | int] = {
    "reference": "H-7F3K",
    "position": 3,
    "wait": 300,
    "ticket_id": "48213",
    "offline_reference": "OFF-2024-0042",
    "agent": "Dana Reyes",
}


def values_for(key: MessageKey) -> dict[str, str | int]:
    return {name: SAMPLE[name] for name in PLACEHOLDERS[key]}


@pytest.fixture(scope="module")
def messages() -> CustomerMessages:
    return CustomerMessages.load()


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return folder


# --- shipped texts ---------------------------------------------------------------------


def test_shipped_locales(messages: CustomerMessages) -> None:
    assert messages.locales() == list(SHIPPED)


@pytest.mark.parametrize("locale", SHIPPED)
@pytest.mark.parametrize("key", list(MessageKey))
def test_every_key_renders_in_every_shipped_locale(
    messages: CustomerMessages, key: MessageKey, locale: str
) -> None:
    text = messages.render(key, locale, **values_for(key))
    assert text.strip() and "{" not in text and "}" not in text
    for name, value in values_for(key).items():
        if name != "wait":
            assert str(value) in text, (key, locale, name)
    assert "*" not in text and "<" not in text and "`" not in text  # no Slack markup


@pytest.mark.parametrize("locale", ["de", "es"])
def test_shipped_translations_are_complete_and_their_own(
    messages: CustomerMessages, locale: str
) -> None:
    for key in MessageKey:
        translated = messages.render(key, locale, **values_for(key))
        assert translated != messages.render(key, "en", **values_for(key)), key


def test_wait_is_humanized_in_the_message_language(messages: CustomerMessages) -> None:
    key = MessageKey.QUEUE_POSITION_IMPROVED
    assert "about 5 minutes" in messages.render(key, "en", position=2, wait=300)
    assert "etwa 5 Minuten" in messages.render(key, "de", position=2, wait=300)
    assert "unos 5 minutos" in messages.render(key, "es", position=2, wait=300)
    assert "soon-ish" in messages.render(key, "en", position=2, wait="soon-ish")


@pytest.mark.parametrize(
    ("asked", "used"),
    [
        ("de", "de"),
        ("DE", "de"),
        ("de-AT", "de"),
        ("de_AT", "de"),
        ("es-419", "es"),
        ("en-GB", "en"),
        ("fr", "en"),
        ("", "en"),
        (None, "en"),
        ("not a tag!", "en"),
    ],
)
def test_locale_resolution(messages: CustomerMessages, asked: str | None, used: str) -> None:
    assert messages.resolve(asked) == used


def test_missing_key_in_a_locale_falls_back_to_english(tmp_path: Path) -> None:
    folder = write(tmp_path, "fr.toml", '[messages]\nclaimed = "{agent} vous aide."\n')
    messages = CustomerMessages.load(folder)
    assert messages.render(MessageKey.CLAIMED, "fr-CA", agent="Léa") == "Léa vous aide."
    assert messages.render(MessageKey.RESOLVED, "fr", reference="H-1") == messages.render(
        MessageKey.RESOLVED, "en", reference="H-1"
    )
    assert messages.humanize_wait(300, "fr") == "about 5 minutes"


def test_regional_locale_falls_back_to_its_language_per_key(tmp_path: Path) -> None:
    folder = write(tmp_path, "de_AT.toml", '[messages]\nclaimed = "Servus, {agent} hilft."\n')
    messages = CustomerMessages.load(folder)
    assert "de-AT" in messages.locales()
    assert messages.render(MessageKey.CLAIMED, "de-at", agent="Sepp") == "Servus, Sepp hilft."
    resolved = messages.render(MessageKey.RESOLVED, "de-AT", reference="H-1")
    assert "als gelöst markiert" in resolved
    assert messages.humanize_wait(120, "de-AT") == "etwa 2 Minuten"


# --- overrides -------------------------------------------------------------------------


def test_override_replaces_one_key_and_adds_a_locale(tmp_path: Path) -> None:
    write(tmp_path, "en.toml", '[messages]\nclaimed = "Hi, {agent} here to help."\n')
    write(tmp_path, "fr.toml", '[units]\nminute_other = "environ {count} minutes"\n')
    write(tmp_path, "README.md", "not a message file")
    messages = CustomerMessages.load(tmp_path)
    assert messages.locales() == ["de", "en", "es", "fr"]
    assert messages.render(MessageKey.CLAIMED, "en", agent="Dana") == "Hi, Dana here to help."
    assert messages.render(MessageKey.CLAIMED, "fr", agent="Dana") == "Hi, Dana here to help."
    assert "H-1 as resolved" in messages.render(MessageKey.RESOLVED, "en", reference="H-1")
    assert "Dana aus unserem" in messages.render(MessageKey.CLAIMED, "de", agent="Dana")
    assert messages.humanize_wait(600, "fr") == "environ 10 minutes"


BAD_OVERRIDES = [
    ("de.toml", 'claimed = "{agnet} hilft"', r"messages\.claimed: unknown placeholder \{agnet\}"),
    ("de.toml", 'resolved = "Gelöst: {reference"', r"messages\.resolved: bad template syntax"),
    ("de.toml", 'resolved = "Gelöst}"', r"de\.toml: messages\.resolved: bad template syntax"),
    ("es.toml", 'returned_to_bot = "Hola {agent}"', r"returned_to_bot: unknown placeholder"),
    ("es.toml", 'claimed = "{agent.name}"', r"placeholder \{agent\.name\} is not a plain name"),
    ("es.toml", 'claimed = "{0}"', r"messages\.claimed: placeholder \{0\} is not a plain name"),
    ("es.toml", 'claimed = "{}"', r"messages\.claimed: placeholder \{\} is not a plain name"),
    ("es.toml", 'claimed = "{agent!r}"', r"placeholder \{agent\} must not carry a conversion"),
    ("es.toml", 'claimed = "{agent:>20}"', r"placeholder \{agent\} must not carry a conversion"),
    ("en.toml", 'queud = "x"', r"en\.toml: unknown message key 'queud'; known keys: queued"),
    ("en.toml", "claimed = 3", r"en\.toml: messages\.claimed: must be a string"),
    ("en.toml", 'claimed = "  "', r"en\.toml: messages\.claimed: must not be empty"),
    ("messages.toml", 'claimed = "{agent}"', r"messages\.toml: the file name must be a locale"),
]


@pytest.mark.parametrize(("name", "line", "expected"), BAD_OVERRIDES)
def test_bad_override_is_rejected_at_load(
    tmp_path: Path, name: str, line: str, expected: str
) -> None:
    write(tmp_path, name, f"[messages]\n{line}\n")
    with pytest.raises(MessagesError, match=expected) as caught:
        CustomerMessages.load(tmp_path)
    assert str(tmp_path / name) in str(caught.value)


def test_error_names_file_key_placeholder_and_the_allowed_names(tmp_path: Path) -> None:
    write(tmp_path, "de.toml", '[messages]\nclaimed = "{agnet} hilft"\n')
    with pytest.raises(MessagesError) as caught:
        CustomerMessages.load(tmp_path)
    assert str(caught.value) == (
        f"{tmp_path / 'de.toml'}: messages.claimed: unknown placeholder {{agnet}}; "
        "allowed: {agent}"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[units]\nminute_other = "{minutes} min"\n', r"units\.minute_other: unknown placeholder"),
        ('[units]\nweek_one = "a week"\n', r"en\.toml: unknown unit 'week_one'"),
        ('claimed = "top level"\n', r"en\.toml: unknown top-level entry 'claimed'"),
        ("messages = 3\n", r"en\.toml: \[messages\] must be a table"),
        ("[messages\n", r"en\.toml: not valid TOML"),
    ],
)
def test_bad_file_shape_is_rejected_at_load(tmp_path: Path, text: str, expected: str) -> None:
    write(tmp_path, "en.toml", text)
    with pytest.raises(MessagesError, match=expected):
        CustomerMessages.load(tmp_path)


def test_two_files_for_one_locale_are_rejected(tmp_path: Path) -> None:
    write(tmp_path, "de-AT.toml", "[messages]\n")
    write(tmp_path, "de_at.toml", "[messages]\n")
    with pytest.raises(MessagesError, match="a second file for locale de-AT"):
        CustomerMessages.load(tmp_path)


def test_missing_override_dir_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(MessagesError, match="does not exist"):
        CustomerMessages.load(tmp_path / "nowhere")


def test_override_may_use_literal_braces_and_drop_a_placeholder(tmp_path: Path) -> None:
    write(tmp_path, "en.toml", '[messages]\nqueued_with_position = "{{#{position}}} in line"\n')
    messages = CustomerMessages.load(tmp_path)
    text = messages.render(MessageKey.QUEUED_WITH_POSITION, "en", reference="H", position=4, wait=1)
    assert text == "{#4} in line"


# --- render arguments ------------------------------------------------------------------


def test_render_requires_exactly_the_declared_values(messages: CustomerMessages) -> None:
    with pytest.raises(TypeError, match=r"missing \['agent'\]"):
        messages.render(MessageKey.CLAIMED, "en")
    with pytest.raises(TypeError, match=r"unexpected \['agnet'\]"):
        messages.render(MessageKey.CLAIMED, "en", agent="A", agnet="B")


# --- humanize_wait ---------------------------------------------------------------------

WAITS = [
    (-5, "less than a minute", "weniger als eine Minute", "menos de un minuto"),
    (0, "less than a minute", "weniger als eine Minute", "menos de un minuto"),
    (59, "less than a minute", "weniger als eine Minute", "menos de un minuto"),
    (60, "about a minute", "etwa eine Minute", "aproximadamente un minuto"),
    (89, "about a minute", "etwa eine Minute", "aproximadamente un minuto"),
    (90, "about 2 minutes", "etwa 2 Minuten", "unos 2 minutos"),
    (300, "about 5 minutes", "etwa 5 Minuten", "unos 5 minutos"),
    (3569, "about 59 minutes", "etwa 59 Minuten", "unos 59 minutos"),
    (3570, "about an hour", "etwa eine Stunde", "aproximadamente una hora"),
    (3600, "about an hour", "etwa eine Stunde", "aproximadamente una hora"),
    (5399, "about an hour", "etwa eine Stunde", "aproximadamente una hora"),
    (5400, "about 2 hours", "etwa 2 Stunden", "unas 2 horas"),
    (7200, "about 2 hours", "etwa 2 Stunden", "unas 2 horas"),
    (36_000, "about 10 hours", "etwa 10 Stunden", "unas 10 horas"),
]


@pytest.mark.parametrize(("seconds", "en", "de", "es"), WAITS)
def test_humanize_wait_boundaries(
    messages: CustomerMessages, seconds: int, en: str, de: str, es: str
) -> None:
    assert messages.humanize_wait(seconds, "en") == en
    assert messages.humanize_wait(seconds, "de") == de
    assert messages.humanize_wait(seconds, "es-ES") == es


def test_humanize_wait_odd_numbers(messages: CustomerMessages) -> None:
    assert messages.humanize_wait(float("nan"), "en") == "less than a minute"
    assert re.fullmatch(r"about \d+ hours", messages.humanize_wait(float("inf"), "en"))
    assert messages.humanize_wait(10**30, "de").startswith("etwa ")


# --- properties ------------------------------------------------------------------------

PRINTABLE = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=40)
BRACY = st.text(st.sampled_from("{}$%_ab0!:.[]"), max_size=20)
TRICKY = st.sampled_from(["{agent}", "{reference}", "{{", "}}", "{", "}", "{0}", "${wait}", "%s"])
VALUE = st.one_of(PRINTABLE, BRACY, TRICKY)
MESSAGES = CustomerMessages.load()


@given(
    key=st.sampled_from(list(MessageKey)),
    locale=st.one_of(st.none(), st.sampled_from([*SHIPPED, "de-AT", "es_MX", "xx"]), PRINTABLE),
    raw=st.fixed_dictionaries({name: VALUE for name in SAMPLE}),
    wait_seconds=st.one_of(st.integers(min_value=-(10**12), max_value=10**12), st.none()),
)
def test_render_never_raises_and_never_reads_braces_in_values(
    key: MessageKey,
    locale: str | None,
    raw: dict[str, str],
    wait_seconds: int | None,
) -> None:
    values: dict[str, str | int] = {name: raw[name] for name in PLACEHOLDERS[key]}
    if "wait" in values and wait_seconds is not None:
        values["wait"] = wait_seconds
    text = MESSAGES.render(key, locale, **values)
    # The same message with a marker per value (NUL cannot occur in a printable value),
    # then each marker swapped for its value: equal only if values went in verbatim.
    markers = {name: f"\x00{i}\x00" for i, name in enumerate(sorted(values))}
    expected = MESSAGES.render(key, locale, **markers)
    for name, value in values.items():
        if isinstance(value, str):
            expected = expected.replace(markers[name], value)
        else:
            expected = expected.replace(markers[name], MESSAGES.humanize_wait(value, locale))
    assert text == expected


def test_compile_template_keeps_literal_braces() -> None:
    template = compile_template("{{x}} {agent}", frozenset({"agent"}), "t")
    assert template.fill({"agent": "{x}"}) == "{x} {x}"
