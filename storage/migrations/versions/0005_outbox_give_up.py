"""What the outbox needs to give up by time rather than by a number of attempts.

A delivery is a dead letter once it has failed transiently for DESKHAND_OUTBOX_GIVE_UP_AFTER
since it first fell due (first_due_at); a 429 does not advance its backoff (failures);
and a row waiting after a failure says why (wait_reason), so that it is due again at once
when its destination answers or the bot restarts. Only added columns: nothing stored
before changes meaning, and every column is nullable or has a default, so no table is
rebuilt on SQLite.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-09 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("outbox", sa.Column("first_due_at", TIME, nullable=True))
    op.add_column("outbox", sa.Column("failures", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("outbox", sa.Column("wait_reason", sa.String(length=16), nullable=True))
    # A row never tried first fell due at its next attempt (a not_before); one already
    # tried, when it was written. Pending rows start their give-up clock there.
    op.execute(
        "UPDATE outbox SET first_due_at = "
        "CASE WHEN attempts = 0 THEN next_attempt_at ELSE created_at END, "
        "failures = attempts"
    )
    # Rows already backing off: the bot that starts on this schema tries them at once.
    op.execute(
        "UPDATE outbox SET wait_reason = 'outage' "
        "WHERE status = 'pending' AND attempts > 0 AND last_error IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("wait_reason")
        batch.drop_column("failures")
        batch.drop_column("first_due_at")
