"""review app: notes, report links, review columns on reports, queue indexes

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # All three are nullable: existing reports are simply unassigned, open and undisposed,
    # so no server default is needed to add them to a populated table.
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("assignee", sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column("disposition", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("closed_at", sa.DateTime(), nullable=True))
        batch_op.create_index("ix_reports_urgency_created", ["urgency", "created_at", "id"], unique=False)
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.create_index("ix_assignments_agency_report", ["agency_id", "report_id"], unique=False)
    op.create_table(
        "notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=True),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("author_email", sa.String(length=254), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["call_id"], ["calls.id"]),
        sa.ForeignKeyConstraint(["report_id"], ["reports.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("notes", schema=None) as batch_op:
        batch_op.create_index("ix_notes_report_id", ["report_id", "id"], unique=False)
    op.create_table(
        "report_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("low_id", sa.Integer(), nullable=False),
        sa.Column("high_id", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=254), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("low_id < high_id", name="ck_report_links_order"),
        sa.ForeignKeyConstraint(["high_id"], ["reports.id"]),
        sa.ForeignKeyConstraint(["low_id"], ["reports.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("low_id", "high_id", name="uq_report_links_pair"),
    )
    with op.batch_alter_table("report_links", schema=None) as batch_op:
        batch_op.create_index("ix_report_links_high_id", ["high_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("report_links", schema=None) as batch_op:
        batch_op.drop_index("ix_report_links_high_id")
    op.drop_table("report_links")
    with op.batch_alter_table("notes", schema=None) as batch_op:
        batch_op.drop_index("ix_notes_report_id")
    op.drop_table("notes")
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.drop_index("ix_assignments_agency_report")
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_index("ix_reports_urgency_created")
        batch_op.drop_column("closed_at")
        batch_op.drop_column("disposition")
        batch_op.drop_column("assignee")
