"""The retention migration back-fills retain_until for reports made before it, per hotline."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import DateTime, column, select, table, text

from hotline.cli.database import alembic_config, upgrade
from hotline.db import make_engine
from hotline.settings import Settings
from tests.conftest import make_settings

CREATED = datetime(2020, 1, 1, 10, 30, 0, 123456)


def _revision_before_the_migration(url: str) -> tuple[str, str]:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(url))
    # Found by file name: the lead may renumber and re-chain it.
    migration = next(s for s in script.walk_revisions() if "retention_per_hotline" in (s.path or ""))
    before = migration.down_revision
    assert isinstance(before, str)
    return before, migration.revision


@contextmanager
def scratch_database(tmp_path: Path, name: str) -> Iterator[str]:
    """An empty database: a SQLite file, or a schema of its own in DATABASE_URL's PostgreSQL."""
    base = os.environ.get("DATABASE_URL")
    if not base:
        yield f"sqlite:///{tmp_path / f'{name}.db'}"
        return
    schema = f"{name}_{os.getpid()}"
    admin = make_engine(base)
    sep = "&" if "?" in base else "?"
    try:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield f"{base}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def _migrate_with_reports(url: str, settings: Settings | None) -> dict[str, datetime]:
    before, after = _revision_before_the_migration(url)
    upgrade(url, before)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            for i, hotline in enumerate(("safe_schools", "prea", "retired_line")):
                conn.execute(
                    text(
                        "INSERT INTO reports (hotline_id, tip_number, created_at, status, urgency, categories,"
                        " keypad, legal_hold) VALUES (:hotline, :tip, :created, 'new', 'normal', '[]', '{}', false)"
                    ),
                    {"hotline": hotline, "tip": f"1000000{i}", "created": CREATED},
                )
        upgrade(url, after, settings)
        reports = table("reports", column("hotline_id"), column("retain_until", DateTime()))
        with engine.connect() as conn:
            return {row.hotline_id: row.retain_until for row in conn.execute(select(reports))}
    finally:
        engine.dispose()


def test_existing_reports_get_their_hotlines_retention(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "sqlite://", "redis://127.0.0.1:9/0")  # only its retention is used
    with scratch_database(tmp_path, "retention_cfg") as url:
        retain = _migrate_with_reports(url, settings)
    assert retain == {
        "safe_schools": CREATED + timedelta(days=365),
        "prea": CREATED + timedelta(days=3653),
        "retired_line": CREATED + timedelta(days=3653),  # no longer configured: the longest
    }


def test_without_the_configuration_existing_reports_get_the_longest_retention(tmp_path: Path) -> None:
    with scratch_database(tmp_path, "retention_nocfg") as url:
        retain = _migrate_with_reports(url, None)
    assert set(retain.values()) == {CREATED + timedelta(days=3653)}
