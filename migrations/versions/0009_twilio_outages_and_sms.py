"""Twilio outages and SMS notices: fetch backoff on recordings, MessageSid and Twilio error
code on notifications, system alerts

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        # A server default fills the rows already there; the model sets it on new ones.
        batch_op.add_column(sa.Column("transient_failures", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("failing_since", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("next_fetch_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.alter_column("transient_failures", server_default=None)
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("error_code", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("message_sid", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("attempted_at", sa.DateTime(), nullable=True))
    op.create_table(
        "system_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("raised_at", sa.DateTime(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "started_at"),
    )


def downgrade() -> None:
    op.drop_table("system_alerts")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_column("attempted_at")
        batch_op.drop_column("message_sid")
        batch_op.drop_column("error_code")
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.drop_column("next_fetch_at")
        batch_op.drop_column("failing_since")
        batch_op.drop_column("transient_failures")
