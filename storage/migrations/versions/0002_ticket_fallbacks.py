"""Ticketing fallbacks, two-way sync, queue positions and agents' e-mails.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("handoffs") as batch:
        batch.add_column(sa.Column("ticket_assignee", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("queue_position", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("queue_told_at", TIME, nullable=True))
        batch.create_index("ix_handoffs_ticket", ["ticket_system", "ticket_id"])
        batch.create_index("ix_handoffs_claimed_at", ["claimed_at"])
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("email", sa.String(length=320), nullable=True))
        batch.add_column(sa.Column("name", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("last_assigned_at", TIME, nullable=True))
        batch.create_index("ix_agents_email", ["email"])
    op.create_table(
        "ticket_fallbacks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("handoff_pk", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TIME, nullable=True),
        sa.Column("deadline", TIME, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("agent_id", sa.String(length=40), nullable=True),
        sa.Column("alert_channel", sa.String(length=40), nullable=True),
        sa.Column("alert_ts", sa.String(length=40), nullable=True),
        sa.Column("retried_by", sa.String(length=40), nullable=True),
        sa.Column("locked_until", TIME, nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.Column("resolved_at", TIME, nullable=True),
        sa.ForeignKeyConstraint(["handoff_pk"], ["handoffs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("handoff_pk", "kind", name="uq_ticket_fallbacks_handoff_kind"),
    )
    op.create_index("ix_ticket_fallbacks_due", "ticket_fallbacks", ["status", "next_attempt_at"])
    op.create_table(
        "ticket_sync_events",
        sa.Column("system", sa.String(length=20), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("received_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("system", "event_id"),
    )
    op.create_table(
        "sync_cursors",
        sa.Column("system", sa.String(length=20), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=True),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("system"),
    )


def downgrade() -> None:
    op.drop_table("sync_cursors")
    op.drop_table("ticket_sync_events")
    op.drop_index("ix_ticket_fallbacks_due", table_name="ticket_fallbacks")
    op.drop_table("ticket_fallbacks")
    with op.batch_alter_table("agents") as batch:
        batch.drop_index("ix_agents_email")
        batch.drop_column("last_assigned_at")
        batch.drop_column("name")
        batch.drop_column("email")
    with op.batch_alter_table("handoffs") as batch:
        batch.drop_index("ix_handoffs_claimed_at")
        batch.drop_index("ix_handoffs_ticket")
        batch.drop_column("queue_told_at")
        batch.drop_column("queue_position")
        batch.drop_column("ticket_assignee")
