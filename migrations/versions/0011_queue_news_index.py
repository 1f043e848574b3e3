"""Indexes for the queue's "Tipster added information" filter and its sort=news order

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_assignments_agency_news", "assignments", ["agency_id", "tipster_news_at"], unique=False)
    op.create_index("ix_reports_tipster_added", "reports", ["tipster_added_at", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_reports_tipster_added", table_name="reports")
    op.drop_index("ix_assignments_agency_news", table_name="assignments")
