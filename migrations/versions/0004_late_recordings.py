"""pipeline: transcription attempts, and when each transcript was taken into classification

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        # A server default fills the rows already there; the model sets it on new ones.
        batch_op.add_column(sa.Column("transcript_attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("classified_at", sa.DateTime(), nullable=True))
    # Transcripts of reports routed before this revision were classified when they were
    # routed; without this the sweep would re-classify every old report once.
    op.execute(
        "UPDATE recordings SET classified_at = "
        "(SELECT reports.routed_at FROM reports WHERE reports.id = recordings.report_id) "
        "WHERE transcript_state = 'done'"
    )
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.alter_column("transcript_attempts", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.drop_column("classified_at")
        batch_op.drop_column("transcript_attempts")
