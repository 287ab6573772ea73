"""Columns as wide as the fields they hold (docs/limits.md).

PostgreSQL enforces VARCHAR lengths that SQLite ignores: a ticketing system's user (an
e-mail of up to 320 characters, behind "zendesk:") did not fit in claimed_by or
resolved_by, nor a 400-character customer name in the messages copying it. Only widening:
no value stored before can be cut.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ACTOR = 409  # "<system>:" + a 400-character name or a 320-character e-mail
PERSON_NAME = 400

# table -> [(column, old width, new width)]
WIDENED: dict[str, list[tuple[str, int, int]]] = {
    "handoffs": [
        ("claimed_by", 40, ACTOR),
        ("claimed_by_name", 200, PERSON_NAME),
        ("resolved_by", 40, ACTOR),
        ("ticket_id", 100, 200),
    ],
    "handoff_events": [("actor", 200, ACTOR)],
    "handoff_messages": [("author_id", 200, ACTOR), ("author_name", 200, PERSON_NAME)],
    "tickets": [("assignee", 200, ACTOR)],
    "ticket_comments": [("author", 200, ACTOR)],
    "agents": [("name", 200, PERSON_NAME)],
    "approvals": [("decided_by_name", 200, PERSON_NAME)],
    "approval_events": [("actor_name", 200, PERSON_NAME)],
}


def _refuse_cascading_rebuild() -> None:
    """SQLite changes a column's type by rebuilding the table; with foreign keys enforced,
    dropping the old handoffs table would cascade-delete every event and message. The
    migration connection does not enforce them (storage/migrate.py): make sure."""
    bind = op.get_bind()
    if bind.dialect.name == "sqlite" and bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError("migration 0004 must run with SQLite foreign keys off")


def _alter(widths: dict[str, list[tuple[str, int, int]]], *, widen: bool) -> None:
    _refuse_cascading_rebuild()
    for table, columns in widths.items():
        with op.batch_alter_table(table) as batch:
            for column, old, new in columns:
                batch.alter_column(
                    column,
                    existing_type=sa.String(length=old if widen else new),
                    type_=sa.String(length=new if widen else old),
                    existing_nullable=True,
                )


def upgrade() -> None:
    _alter(WIDENED, widen=True)


def downgrade() -> None:
    # Narrowing fails on PostgreSQL if a longer value is stored: shorten those first.
    _alter(WIDENED, widen=False)
