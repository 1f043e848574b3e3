"""retention per hotline: each report's retain_until, back-filled for existing reports

Revision ID: 0006
Revises: 0004

Existing reports get created_at plus their hotline's retention when `flask db upgrade` (or
`make run`) passes the configuration in (config attributes "hotline_retention_days" and
"hotline_default_retention_days"); otherwise, and for hotlines no longer configured, the
longest retention, at least PREA's ten years: keeping a report too long can be corrected,
destroying PREA evidence early cannot.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None

# Frozen here (not imported): hotline.settings.PREA_MIN_RETENTION_DAYS when this was written.
PREA_MIN_RETENTION_DAYS = 3653


def _plus_days(dialect: str) -> str:
    if dialect == "sqlite":
        # Same text form SQLAlchemy writes ("YYYY-MM-DD HH:MM:SS.ffffff"), so that
        # comparisons of the stored strings stay in date order.
        return "datetime(created_at, '+' || :days || ' days') || substr(created_at, 20)"
    return "created_at + make_interval(days => :days)"


def upgrade() -> None:
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retain_until", sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f("ix_reports_retain_until"), ["retain_until"], unique=False)
    attributes = context.config.attributes if context.config is not None else {}
    per_hotline: dict[str, int] = dict(attributes.get("hotline_retention_days") or {})
    default = max([PREA_MIN_RETENTION_DAYS, int(attributes.get("hotline_default_retention_days") or 0)])
    default = max([default, *per_hotline.values()])
    plus = _plus_days(op.get_bind().dialect.name)
    for hotline_id, days in per_hotline.items():
        op.execute(
            sa.text(f"UPDATE reports SET retain_until = {plus} WHERE hotline_id = :hotline").bindparams(
                days=int(days), hotline=hotline_id
            )
        )
    op.execute(sa.text(f"UPDATE reports SET retain_until = {plus} WHERE retain_until IS NULL").bindparams(days=default))


def downgrade() -> None:
    # Plain ALTER TABLE (SQLite 3.35+ drops a column in place): a batch rebuild would drop and
    # recreate `reports`, which the foreign keys of calls, recordings and events forbid.
    op.drop_index(op.f("ix_reports_retain_until"), table_name="reports")
    op.drop_column("reports", "retain_until")
