"""Migration 0003 adds the review tables and columns to a database that already has reports."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from hotline.cli.database import upgrade
from hotline.db import make_engine


@pytest.mark.skipif(bool(os.environ.get("DATABASE_URL")), reason="uses its own SQLite file")
def test_upgrade_keeps_existing_reports_and_downgrade_removes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alembic import command

    # Migration 0008 seals the report's keypad answers with the environment's keys: keep the
    # development ones it generates in this test's directory.
    monkeypatch.setenv("HOTLINE_INSTANCE_PATH", str(tmp_path / "instance"))

    from hotline.cli.database import alembic_config

    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url, "0002")
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO reports (hotline_id, tip_number, created_at, status, urgency, categories, keypad,"
                " legal_hold) VALUES ('safe_schools', '12345678', '2026-01-01', 'new', 'high', '[]', '{}', 0)"
            )
        )
    upgrade(url)
    inspector = inspect(engine)
    columns = {c["name"]: c for c in inspector.get_columns("reports")}
    assert {"assignee", "disposition", "closed_at"} <= set(columns)
    assert {"notes", "report_links"} <= set(inspector.get_table_names())
    assert "ix_assignments_agency_report" in {i["name"] for i in inspector.get_indexes("assignments")}
    with engine.connect() as conn:
        row = conn.execute(text("SELECT status, assignee, disposition, closed_at FROM reports")).one()
    assert tuple(row) == ("new", None, None, None)
    command.downgrade(alembic_config(url), "0002")
    inspector = inspect(engine)
    assert "notes" not in inspector.get_table_names()
    assert "assignee" not in {c["name"] for c in inspector.get_columns("reports")}
    engine.dispose()
