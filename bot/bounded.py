"""Text fields with a documented maximum, storable alike on SQLite and PostgreSQL.

``Annotated[str, Bounded(400)]`` is a string of at most 400 characters (a longer one is a
validation error, so a 422, never a database error), with NUL and lone surrogates replaced
by U+FFFD (storage/limits.py). PostgreSQL counts characters, not bytes, and so does this.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from annotated_types import GroupedMetadata
from pydantic import AfterValidator, StringConstraints

from storage.limits import clean_text


@dataclass(frozen=True)
class Bounded(GroupedMetadata):
    max_length: int
    min_length: int | None = None
    pattern: str | None = None

    def __iter__(self) -> Iterator[Any]:
        yield StringConstraints(
            min_length=self.min_length, max_length=self.max_length, pattern=self.pattern
        )
        yield AfterValidator(clean_text)
