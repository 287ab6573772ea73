"""The customer-facing texts, in every language deskhand knows, loaded and checked once.

`CustomerMessages.load()` reads the shipped `locales/*.toml`, then the files of a team's
override directory (`DESKHAND_MESSAGES_DIR`); every template is validated then, so a bad
one stops start-up instead of failing a callback. After loading everything is pure.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from bot.customer_messages import locales as tags
from bot.customer_messages.keys import PLACEHOLDERS, UNIT_PLACEHOLDERS, WAIT, MessageKey, Unit
from bot.customer_messages.templates import MessagesError, Template, compile_template

_SECTIONS = ("messages", "units")
_MAX_SECONDS = 10**9  # beyond any real wait; keeps the arithmetic finite
_KEYS = frozenset(k.value for k in MessageKey)
_UNITS = frozenset(u.value for u in Unit)


@dataclass(frozen=True)
class _LocaleFile:
    tag: str  # normalised
    messages: dict[MessageKey, Template]
    units: dict[Unit, Template]


@dataclass(frozen=True)
class _Table:
    tag: str  # as shown, e.g. "pt-BR"
    messages: Mapping[MessageKey, Template]
    units: Mapping[Unit, Template]


def _section(data: dict[str, Any], name: str, where: str) -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise MessagesError(f"{where}: [{name}] must be a table")
    return value


def _parse(where: str, stem: str, text: str) -> _LocaleFile:
    tag = tags.normalize(stem)
    if tag is None:
        raise MessagesError(
            f"{where}: the file name must be a locale tag such as en.toml, de.toml, pt-BR.toml"
        )
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MessagesError(f"{where}: not valid TOML: {exc}") from None
    extra = sorted(set(data) - set(_SECTIONS))
    if extra:
        raise MessagesError(
            f"{where}: unknown top-level entry {extra[0]!r}; expected [messages] and [units]"
        )
    messages: dict[MessageKey, Template] = {}
    for name, source in _section(data, "messages", where).items():
        if name not in _KEYS:
            known = ", ".join(k.value for k in MessageKey)
            raise MessagesError(f"{where}: unknown message key {name!r}; known keys: {known}")
        key = MessageKey(name)
        messages[key] = compile_template(source, PLACEHOLDERS[key], f"{where}: messages.{name}")
    units: dict[Unit, Template] = {}
    for name, source in _section(data, "units", where).items():
        if name not in _UNITS:
            known = ", ".join(u.value for u in Unit)
            raise MessagesError(f"{where}: unknown unit {name!r}; known units: {known}")
        units[Unit(name)] = compile_template(source, UNIT_PLACEHOLDERS, f"{where}: units.{name}")
    return _LocaleFile(tag, messages, units)


def _read_all(entries: Iterable[Traversable | Path], origin: str) -> list[_LocaleFile]:
    parsed: dict[str, _LocaleFile] = {}
    for entry in sorted(entries, key=lambda e: e.name):
        if not entry.name.endswith(".toml") or not entry.is_file():
            continue
        where = f"{origin}/{entry.name}"
        try:
            text = entry.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise MessagesError(f"{where}: cannot be read: {exc}") from None
        one = _parse(where, entry.name.removesuffix(".toml"), text)
        if one.tag in parsed:
            raise MessagesError(f"{where}: a second file for locale {tags.display(one.tag)}")
        parsed[one.tag] = one
    return list(parsed.values())


def _shipped() -> list[_LocaleFile]:
    folder = files("bot.customer_messages").joinpath("locales")
    return _read_all(folder.iterdir(), "bot/customer_messages/locales")


def _overrides(override_dir: Path) -> list[_LocaleFile]:
    if not override_dir.is_dir():
        raise MessagesError(f"{override_dir}: the messages directory does not exist")
    return _read_all(override_dir.iterdir(), str(override_dir))


def _build(layers: Iterable[_LocaleFile]) -> dict[str, _Table]:
    messages: dict[str, dict[MessageKey, Template]] = {}
    units: dict[str, dict[Unit, Template]] = {}
    for layer in layers:  # later layers replace only the keys they set
        messages.setdefault(layer.tag, {}).update(layer.messages)
        units.setdefault(layer.tag, {}).update(layer.units)
    english_messages = messages.get(tags.DEFAULT_LOCALE, {})
    english_units = units.get(tags.DEFAULT_LOCALE, {})
    missing = [k.value for k in MessageKey if k not in english_messages]
    missing += [f"units.{u.value}" for u in Unit if u not in english_units]
    if missing:
        raise MessagesError(f"en.toml: English must define every message; missing {missing}")
    tables: dict[str, _Table] = {}
    for tag in messages:
        chain = [t for t in tags.chain(tag) if t in messages]
        tables[tag] = _Table(
            tag=tags.display(tag),
            messages={
                k: next(messages[t][k] for t in chain if k in messages[t]) for k in MessageKey
            },
            units={u: next(units[t][u] for t in chain if u in units[t]) for u in Unit},
        )
    return tables


class CustomerMessages:
    """Every customer-facing text, per locale; build it with `CustomerMessages.load()`."""

    def __init__(self, tables: Mapping[str, _Table]) -> None:
        self._tables = dict(tables)

    @classmethod
    def load(cls, override_dir: Path | None = None) -> CustomerMessages:
        """Shipped texts, then the team's files in `override_dir`; raises `MessagesError`."""
        layers = _shipped()
        if override_dir is not None:
            layers += _overrides(override_dir)
        return cls(_build(layers))

    def locales(self) -> list[str]:
        """The locales with texts of their own, e.g. `["de", "en", "es"]`."""
        return sorted(table.tag for table in self._tables.values())

    def resolve(self, locale: str | None) -> str:
        """The locale whose texts `locale` gets: exact tag, then its language, then `en`."""
        return self._table(locale).tag

    def _table(self, locale: str | None) -> _Table:
        tag = tags.normalize(locale) if locale else None
        for candidate in tags.chain(tag or tags.DEFAULT_LOCALE):
            table = self._tables.get(candidate)
            if table is not None:
                return table
        return self._tables[tags.DEFAULT_LOCALE]

    def render(self, key: MessageKey, locale: str | None, **values: str | int) -> str:
        """The text of `key` in `locale`, values inserted as plain text.

        `wait` given as an int is a number of seconds, shown as `humanize_wait` words;
        given as a str it is used as it is. Every placeholder the key declares needs a
        value (see `PLACEHOLDERS`); a missing or unknown name raises `TypeError`.
        """
        expected = PLACEHOLDERS[key]
        missing = sorted(expected - values.keys())
        unknown = sorted(values.keys() - expected)
        if missing or unknown:
            raise TypeError(f"render({key.value}): missing {missing}, unexpected {unknown}")
        table = self._table(locale)
        text: dict[str, str] = {}
        for name, value in values.items():
            if isinstance(value, bool) or not isinstance(value, str | int):
                raise TypeError(f"render({key.value}): {name} must be a str or an int")
            if name == WAIT and isinstance(value, int):
                text[name] = _humanize(table, value)
            else:
                text[name] = str(value)
        return table.messages[key].fill(text)

    def humanize_wait(self, seconds: float, locale: str | None) -> str:
        """`300` -> "about 5 minutes" / "etwa 5 Minuten" / "unos 5 minutos"."""
        return _humanize(self._table(locale), seconds)


def _round(x: float) -> int:
    return math.floor(x + 0.5)  # half up, unlike round()'s half to even


def _humanize(table: _Table, seconds: float) -> str:
    """Under a minute; whole minutes below an hour; whole hours from there on."""
    if math.isnan(seconds) or seconds < 60:
        return table.units[Unit.LESS_THAN_MINUTE].fill({"count": "0"})
    seconds = min(seconds, _MAX_SECONDS)
    minutes = _round(seconds / 60)
    if minutes < 60:
        unit = Unit.MINUTE_ONE if minutes == 1 else Unit.MINUTE_OTHER
        return table.units[unit].fill({"count": str(minutes)})
    hours = max(1, _round(seconds / 3600))
    unit = Unit.HOUR_ONE if hours == 1 else Unit.HOUR_OTHER
    return table.units[unit].fill({"count": str(hours)})
