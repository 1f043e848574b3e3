"""Throwaway, migrated databases for the benchmarks: SQLite in a file, or PostgreSQL in a
schema of its own so the database's other schemas (the test suite's `public`) are never
touched. Both are removed afterwards, also on failure."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import text

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@contextmanager
def database(backend: str, tmp: Path, pg_url: str = DEFAULT_PG_URL, name: str = "bench") -> Iterator[str]:
    """Yield the URL of a fresh, migrated database of `backend` ("sqlite" or "postgresql")."""
    from hotline.cli.database import upgrade  # alembic is only needed here
    from hotline.db import make_engine

    if backend == "sqlite":
        path = tmp / f"{name}.db"
        url = f"sqlite:///{path}"
        try:
            upgrade(url)
            yield url
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    if backend != "postgresql":
        raise ValueError(f"unknown database {backend!r}: use sqlite or postgresql")
    # First on the search path of every connection the app opens with this URL.
    schema = f"{name}_{os.getpid()}"
    admin = make_engine(pg_url)
    sep = "&" if "?" in pg_url else "?"
    url = f"{pg_url}{sep}options={quote(f'-csearch_path={schema}')}"
    try:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        upgrade(url)
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
