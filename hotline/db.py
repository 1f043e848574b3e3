"""The database engine and a session per request (or per job)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, scoped_session, sessionmaker


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets the worker read while webhooks write; NORMAL keeps commits cheap but durable
    # across application crashes (only an OS crash can lose the last transaction).
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str) -> Engine:
    """Create an engine, with the pragmas SQLite needs for concurrent web and worker use."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


class Database:
    """Flask extension owning the engine and a scoped session."""

    def __init__(self) -> None:
        self._engine: Engine | None = None
        self._session: scoped_session[Session] | None = None

    def init_app(self, app: Flask, url: str) -> None:
        self._engine = make_engine(url)
        self._session = scoped_session(sessionmaker(self._engine, expire_on_commit=False))
        app.teardown_appcontext(self._remove)

    def _remove(self, _exc: BaseException | None = None) -> None:
        self.remove()

    def remove(self) -> None:
        """End this thread's session (after a request or a job)."""
        if self._session is not None:
            self._session.remove()

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("the database is not initialised; call init_app first")
        return self._engine

    @property
    def session(self) -> Session:
        if self._session is None:
            raise RuntimeError("the database is not initialised; call init_app first")
        return self._session()

    def dispose(self) -> None:
        """Close every pooled connection (tests and forked workers)."""
        self._remove()
        if self._engine is not None:
            self._engine.dispose()
