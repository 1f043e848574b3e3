"""`flask db upgrade`: create or migrate the schema with Alembic."""

from __future__ import annotations

from pathlib import Path

import click
from alembic import command
from alembic.config import Config
from flask.cli import with_appcontext

from hotline.extensions import runtime
from hotline.settings import Settings

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(url: str) -> Config:
    """Build an Alembic config pointing at our migrations and the given database."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head", settings: Settings | None = None) -> None:
    """Migrate; with the settings, migrations that back-fill from config can use them."""
    config = alembic_config(url)
    if settings is not None:
        # 0006 back-fills each existing report's retain_until from its hotline's retention.
        config.attributes["hotline_retention_days"] = {h.id: settings.retention_days(h.id) for h in settings.hotlines}
        config.attributes["hotline_default_retention_days"] = settings.longest_retention_days()
        config.attributes["hotline_settings"] = settings
    command.upgrade(config, revision)


@click.group("db")
def db_group() -> None:
    """Manage the database schema."""


@db_group.command("upgrade")
@click.argument("revision", default="head")
@with_appcontext
def upgrade_command(revision: str) -> None:
    """Create or migrate the schema to REVISION (default: the latest)."""
    settings = runtime.get().settings
    upgrade(settings.database_url, revision, settings)
    click.echo(f"database is at revision {revision}")


@db_group.command("current")
@with_appcontext
def current_command() -> None:
    """Show the schema revision of the database."""
    command.current(alembic_config(runtime.get().settings.database_url))
