"""Templates checked once, when they are loaded, and filled without ever parsing a value.

Syntax is that of `str.format` restricted to bare names: `{reference}`; `{{` and `}}` are
literal braces. Positional fields, attributes, indexes, conversions and format specs are
refused, as is any name the message does not declare.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from string import Formatter


class MessagesError(ValueError):
    """A message file or a template in it is not acceptable; raised while loading."""


@dataclass(frozen=True)
class Field:
    name: str


@dataclass(frozen=True)
class Template:
    source: str
    parts: tuple[str | Field, ...]

    @property
    def names(self) -> frozenset[str]:
        return frozenset(p.name for p in self.parts if isinstance(p, Field))

    def fill(self, values: Mapping[str, str]) -> str:
        """Substitute the values as plain text: braces inside a value stay as they are."""
        return "".join(p if isinstance(p, str) else values[p.name] for p in self.parts)


def _describe(allowed: frozenset[str]) -> str:
    if not allowed:
        return "this message takes no placeholders"
    return "allowed: " + ", ".join("{" + n + "}" for n in sorted(allowed))


def compile_template(source: object, allowed: frozenset[str], where: str) -> Template:
    """Parse `source`; `where` ("de.toml: messages.claimed") prefixes every error."""
    if not isinstance(source, str):
        raise MessagesError(f"{where}: must be a string, not {type(source).__name__}")
    if not source.strip():
        raise MessagesError(f"{where}: must not be empty")
    try:
        parsed = list(Formatter().parse(source))
    except ValueError as exc:
        raise MessagesError(f"{where}: bad template syntax ({exc}) in {source!r}") from None
    parts: list[str | Field] = []
    for literal, name, spec, conversion in parsed:
        if literal:
            parts.append(literal)
        if name is None:
            continue
        if not name.isidentifier():
            raise MessagesError(
                f"{where}: placeholder {{{name}}} is not a plain name; {_describe(allowed)}"
            )
        if name not in allowed:
            raise MessagesError(f"{where}: unknown placeholder {{{name}}}; {_describe(allowed)}")
        if conversion or spec:
            raise MessagesError(
                f"{where}: placeholder {{{name}}} must not carry a conversion or a format"
                " spec; write it as {" + name + "}"
            )
        parts.append(Field(name))
    return Template(source, tuple(parts))
