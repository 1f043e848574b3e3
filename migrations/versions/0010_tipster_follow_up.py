"""Two-way follow-up with the anonymous tipster: messages, web tips and their attachments,
follow-up lockout, and a round of notices each time the tipster adds information

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# The notifications table as 0009 left it, without its unnamed unique key: SQLite cannot drop
# an unnamed constraint, so the table is rebuilt from this description instead.
_NOTIFICATIONS_0009 = sa.Table(
    "notifications",
    sa.MetaData(),
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("assignment_id", sa.Integer(), sa.ForeignKey("assignments.id"), nullable=False),
    sa.Column("level", sa.Integer(), nullable=False),
    sa.Column("channel", sa.String(length=16), nullable=False),
    sa.Column("target", sa.String(length=300), nullable=False),
    sa.Column("status", sa.String(length=16), nullable=False),
    sa.Column("error", sa.String(length=300), nullable=True),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("sent_at", sa.DateTime(), nullable=True),
    sa.Column("error_code", sa.String(length=16), nullable=True),
    sa.Column("message_sid", sa.String(length=64), nullable=True),
    sa.Column("attempted_at", sa.DateTime(), nullable=True),
    sa.Index("ix_notifications_assignment_id", "assignment_id"),
)


def upgrade() -> None:
    # Plain ADD COLUMNs: rebuilding reports or assignments on SQLite trips over the foreign
    # keys pointing at them. The server defaults fill the rows already there and stay.
    op.add_column("reports", sa.Column("channel", sa.String(length=8), nullable=False, server_default="phone"))
    op.add_column("reports", sa.Column("written", sa.JSON(), nullable=True))
    op.add_column("reports", sa.Column("followup_locked_until", sa.DateTime(), nullable=True))
    op.add_column("reports", sa.Column("tipster_added_at", sa.DateTime(), nullable=True))
    op.add_column("assignments", sa.Column("round", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("assignments", sa.Column("tipster_news_at", sa.DateTime(), nullable=True))
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("notifications", recreate="always", copy_from=_NOTIFICATIONS_0009) as batch_op:
            batch_op.add_column(sa.Column("round", sa.Integer(), nullable=False, server_default="0"))
            batch_op.create_unique_constraint(
                "uq_notifications_once", ["assignment_id", "round", "level", "channel", "target"]
            )
    else:
        op.drop_constraint("notifications_assignment_id_level_channel_target_key", "notifications", type_="unique")
        op.add_column("notifications", sa.Column("round", sa.Integer(), nullable=False, server_default="0"))
        op.create_unique_constraint(
            "uq_notifications_once", "notifications", ["assignment_id", "round", "level", "channel", "target"]
        )
    op.create_table(
        "tipster_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("author_email", sa.String(length=254), nullable=True),
        sa.Column("agency_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("heard_at", sa.DateTime(), nullable=True),
        sa.Column("read_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["report_id"], ["reports.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_tipster_messages_report", "tipster_messages", ["report_id", "id"], unique=False)
    op.create_table(
        "attachments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("content_type", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("blob_key", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("shredded_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["message_id"], ["tipster_messages.id"]),
        sa.ForeignKeyConstraint(["report_id"], ["reports.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_attachments_report", "attachments", ["report_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_attachments_report", table_name="attachments")
    op.drop_table("attachments")
    op.drop_index("ix_tipster_messages_report", table_name="tipster_messages")
    op.drop_table("tipster_messages")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_constraint("uq_notifications_once", type_="unique")
        batch_op.drop_column("round")
        batch_op.create_unique_constraint(
            "notifications_assignment_id_level_channel_target_key", ["assignment_id", "level", "channel", "target"]
        )
    # Plain drops: rebuilding reports or assignments on SQLite trips over their foreign keys.
    op.drop_column("assignments", "tipster_news_at")
    op.drop_column("assignments", "round")
    op.drop_column("reports", "tipster_added_at")
    op.drop_column("reports", "followup_locked_until")
    op.drop_column("reports", "written")
    op.drop_column("reports", "channel")
