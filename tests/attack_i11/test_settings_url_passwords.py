"""Printing the settings never shows the password inside DATABASE_URL or REDIS_URL."""

from __future__ import annotations

from pathlib import Path

from hotline.settings import load_settings
from tests.test_production_start import ROOT, SECRETS, _production

DB_URL = "postgresql+psycopg://hotline:pg-Pa55word-XYZ@postgres:5432/hotline"
REDIS_URL = "redis://:redis-Pa55word-XYZ@redis:6379/0"


def test_a_password_in_a_url_setting_is_masked_wherever_the_settings_are_shown(tmp_path: Path) -> None:
    env = _production(tmp_path, **SECRETS, DATABASE_URL=DB_URL, REDIS_URL=REDIS_URL)
    settings = load_settings(ROOT / "config.yaml", environ=env)
    assert settings.database_url == DB_URL and settings.redis_url == REDIS_URL  # the app still uses them
    for how, text in {
        "repr": repr(settings),
        "str": str(settings),
        "model_dump": str(settings.model_dump()),
        "model_dump_json": settings.model_dump_json(),
        "dict": str(dict(settings)),
    }.items():
        assert "pg-Pa55word-XYZ" not in text and "redis-Pa55word-XYZ" not in text, how
        assert "postgres:5432/hotline" in text and "redis:6379/0" in text, how  # the rest still shows


def test_hide_password_keeps_everything_but_the_password() -> None:
    from hotline.settings import hide_password

    assert hide_password(DB_URL) == "postgresql+psycopg://hotline:***@postgres:5432/hotline"
    assert hide_password(REDIS_URL) == "redis://:***@redis:6379/0"
    assert hide_password("sqlite:////srv/hotline.db") == "sqlite:////srv/hotline.db"
    assert hide_password("redis://redis:6379/0") == "redis://redis:6379/0"
