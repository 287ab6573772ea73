"""INSERT ... ON CONFLICT DO NOTHING, written once for both dialects."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Insert, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase


def insert_ignore(
    session: AsyncSession,
    model: type[DeclarativeBase],
    values: dict[str, Any],
    conflict_columns: Sequence[str],
) -> Insert:
    name = session.get_bind().dialect.name
    table = cast(Table, model.__table__)
    stmt: Insert
    if name == "postgresql":
        stmt = (
            postgresql.insert(table)
            .values(**values)
            .on_conflict_do_nothing(index_elements=list(conflict_columns))
        )
    else:
        stmt = (
            sqlite.insert(table)
            .values(**values)
            .on_conflict_do_nothing(index_elements=list(conflict_columns))
        )
    return stmt


@functools.cache
def _insert_ignore_statement(
    dialect: str, table: Table, conflict_columns: tuple[str, ...], returning: tuple[str, ...]
) -> Insert:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(table).on_conflict_do_nothing(index_elements=list(conflict_columns))
    return stmt.returning(*(table.c[name] for name in returning)) if returning else stmt


def insert_ignore_many(
    session: AsyncSession,
    model: type[DeclarativeBase],
    conflict_columns: Sequence[str],
    *,
    returning: Sequence[str] = (),
) -> Insert:
    """The same without values, built once per dialect and table: execute it with the
    rows as parameters (a list for executemany). Reusing one statement object skips
    building and hashing a new one on every call (the hot paths' cost)."""
    table = cast(Table, model.__table__)
    name = session.get_bind().dialect.name
    return _insert_ignore_statement(name, table, tuple(conflict_columns), tuple(returning))


def insert_ignore_statement(
    dialect: str,
    model: type[DeclarativeBase],
    conflict_columns: Sequence[str],
    *,
    returning: Sequence[str] = (),
) -> Insert:
    """``insert_ignore_many`` for a dialect by name (synchronous transactions)."""
    table = cast(Table, model.__table__)
    return _insert_ignore_statement(dialect, table, tuple(conflict_columns), tuple(returning))
