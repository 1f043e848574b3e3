"""Alembic environment: the URL comes from the app's settings (or -x url=...)."""

from __future__ import annotations

from alembic import context

from hotline.db import make_engine
from hotline.models import Base

config = context.config
url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
if not url:
    from hotline.settings import load_settings

    url = load_settings().database_url


def run_offline() -> None:
    context.configure(url=url, target_metadata=Base.metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = make_engine(str(url))
    with engine.connect() as connection:
        # Batch mode lets later migrations alter SQLite tables (it cannot ALTER most things).
        context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
