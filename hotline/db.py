"""The database engine, a session per request (or per job), and a time budget per request.

A webhook must answer Twilio within 15 seconds whatever the database does: a lock held by a
migration, a PostgreSQL that does not answer. `Database.deadline` bounds the total time the
statements of one request may wait, so the error path still has time to answer the caller.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, scoped_session, sessionmaker

# Waits outside a deadline (workers, commands, review pages): long enough to ride out a
# checkpoint or a short migration, short enough that a stuck database is reported.
DEFAULT_BUSY_SECONDS = 10
DEFAULT_CONNECT_SECONDS = 10
# libpq (and psycopg) round a connect timeout up to 2 seconds, per address tried.
MIN_CONNECT_SECONDS = 2
# A statement's timeout is set from the budget left when it was set; it is only set again
# once it is this stale, so a request of quick statements pays one extra round trip (per
# transaction on PostgreSQL), and no statement can end later than deadline + this.
_RESET_AFTER = 0.25
# Less than this left: do not start another statement, fail now.
_MIN_LEFT = 0.05

# The monotonic time by which this request's database work must be over (None: unbounded).
_deadline: ContextVar[float | None] = ContextVar("hotline_db_deadline", default=None)
_APPLIED = "hotline_deadline_applied"  # (deadline, monotonic time it was applied)
_SQLITE_BUSY_CHANGED = "hotline_busy_changed"


class DatabaseDeadline(SQLAlchemyError):
    """This request used up its database time; raised instead of starting another statement."""


def current_deadline() -> float | None:
    """The monotonic time this thread's database work must end by, if bounded."""
    return _deadline.get()


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left < _MIN_LEFT:
        raise DatabaseDeadline("the request's database time budget is used up")
    return left


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets the worker read while webhooks write; NORMAL keeps commits cheap but durable
    # across application crashes (only an OS crash can lose the last transaction).
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={DEFAULT_BUSY_SECONDS * 1000}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _due_again(conn: Any) -> float | None:
    """The request's deadline, if this connection's timeout must be set (again) for it.

    Set once per request and connection, and again when the last setting is older than
    _RESET_AFTER, so no statement can wait much past the deadline.
    """
    deadline = _deadline.get()
    if deadline is None:
        return None
    applied = conn.info.get(_APPLIED)
    if applied is not None and applied[0] == deadline and time.monotonic() - applied[1] < _RESET_AFTER:
        return None
    return deadline


def _bound_sqlite_statement(conn: Any, cursor: Any, _statement: str, _params: Any, _context: Any, _many: bool) -> None:
    """Let a statement wait for SQLite's write lock only as long as the request has left."""
    deadline = _due_again(conn)
    if deadline is None:
        return
    left = _left(deadline)
    # The busy timeout belongs to the connection, not the transaction: the checkin hook
    # puts the default back before anyone else gets this connection.
    cursor.execute(f"PRAGMA busy_timeout={int(left * 1000)}")
    conn.info[_APPLIED] = (deadline, time.monotonic())
    conn.info[_SQLITE_BUSY_CHANGED] = True


def _restore_sqlite_busy(dbapi_conn: Any, record: Any) -> None:
    record.info.pop(_APPLIED, None)
    if record.info.pop(_SQLITE_BUSY_CHANGED, False) and dbapi_conn is not None:
        dbapi_conn.execute(f"PRAGMA busy_timeout={DEFAULT_BUSY_SECONDS * 1000}")


def _bound_pg_statement(conn: Any, cursor: Any, _statement: str, _params: Any, _context: Any, _many: bool) -> None:
    """Give the transaction a lock and statement timeout of what the request has left.

    Local to the transaction (set_config(..., true), i.e. SET LOCAL): it ends at commit or
    rollback, so nothing carries over to the pooled connection's next user.
    """
    deadline = _due_again(conn)
    if deadline is None:
        return
    left_ms = str(int(_left(deadline) * 1000))
    cursor.execute(
        "SELECT set_config('lock_timeout', %s, true), set_config('statement_timeout', %s, true)",
        (left_ms, left_ms),
    )
    conn.info[_APPLIED] = (deadline, time.monotonic())


def _forget_applied(conn: Any) -> None:
    # SET LOCAL ended with the transaction; the next one must set it again.
    conn.info.pop(_APPLIED, None)


def _forget_on_savepoint_rollback(conn: Any, _name: Any, _context: Any) -> None:
    # Rolling back to a savepoint also undoes a SET LOCAL made after it.
    conn.info.pop(_APPLIED, None)


def _forget_on_checkin(_dbapi_conn: Any, record: Any) -> None:
    record.info.pop(_APPLIED, None)


def _pg_connect_timeout(_dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
    """A new connection within a deadline may take only what is left (libpq's minimum: 2 s)."""
    deadline = _deadline.get()
    if deadline is None:
        return
    seconds = math.ceil(_left(deadline))
    configured = int(cparams.get("connect_timeout") or 0)  # from the URL, or ours; 0: none
    if configured > 0:
        seconds = min(seconds, configured)
    cparams["connect_timeout"] = max(MIN_CONNECT_SECONDS, seconds)


def make_engine(url: str, pool_timeout: float = 30) -> Engine:
    """Create an engine with timeouts on every wait, and SQLite's pragmas for concurrent use.

    Statement parameters are never put into error messages (`hide_parameters`): a failing
    webhook's logged exception would otherwise carry what the caller keyed in.

    `pool_timeout` is how long a request may wait for a free pooled connection.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"timeout": DEFAULT_BUSY_SECONDS}, pool_timeout=pool_timeout, hide_parameters=True
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "before_cursor_execute", _bound_sqlite_statement)
        event.listen(engine, "checkin", _restore_sqlite_busy)
        return engine
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
        # libpq's default is to wait for ever (psycopg's: 130 s) for a server that accepts
        # but does not answer. A connect_timeout in DATABASE_URL wins.
        connect_args["connect_timeout"] = DEFAULT_CONNECT_SECONDS
    engine = create_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=10,
        pool_timeout=pool_timeout,
        connect_args=connect_args,
        hide_parameters=True,
    )
    if engine.dialect.name == "postgresql":
        event.listen(engine, "do_connect", _pg_connect_timeout)
        event.listen(engine, "before_cursor_execute", _bound_pg_statement)
    event.listen(engine, "commit", _forget_applied)
    event.listen(engine, "rollback", _forget_applied)
    event.listen(engine, "rollback_savepoint", _forget_on_savepoint_rollback)
    event.listen(engine, "checkin", _forget_on_checkin)
    return engine


class Database:
    """One app's engine and scoped session (kept in `app.extensions`, one per app)."""

    def __init__(self) -> None:
        self._engine: Engine | None = None
        self._session: scoped_session[Session] | None = None

    def init_app(self, app: Flask, url: str, pool_timeout: float = 30) -> None:
        self._engine = make_engine(url, pool_timeout=pool_timeout)
        self._session = scoped_session(sessionmaker(self._engine, expire_on_commit=False))
        app.teardown_appcontext(self._remove)

    def _remove(self, _exc: BaseException | None = None) -> None:
        self.remove()

    def remove(self) -> None:
        """End this thread's session (after a request or a job)."""
        if self._session is not None:
            self._session.remove()

    @staticmethod
    def start_deadline(seconds: float) -> None:
        """Bound the database time of what this thread does next (one webhook) to `seconds`.

        Counted from now across every statement, not per statement: a request that runs
        five statements each waiting on a lock still gets its error path in time. Every wait
        is bounded: a new connection's connect timeout, each statement's lock wait (SQLite's
        busy timeout; PostgreSQL's lock_timeout and statement_timeout, per transaction). A
        statement that would start with the budget spent raises DatabaseDeadline instead.
        """
        _deadline.set(time.monotonic() + seconds)

    @staticmethod
    def end_deadline() -> None:
        _deadline.set(None)

    @contextmanager
    def deadline(self, seconds: float) -> Iterator[None]:
        """Bound the database time of the enclosed block (see start_deadline)."""
        token = _deadline.set(time.monotonic() + seconds)
        try:
            yield
        finally:
            _deadline.reset(token)

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
