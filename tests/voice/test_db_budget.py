"""A locked or unreachable database still gets the caller the error path's answer in time.

Twilio gives a webhook 15 seconds, then tells the caller "an application error has
occurred". Each test holds a real lock from another connection (SQLite: BEGIN IMMEDIATE;
PostgreSQL: LOCK TABLE ... IN ACCESS EXCLUSIVE MODE), or points the app at a PostgreSQL that
refuses or never answers, and checks that the webhook answers with valid error-path TwiML.
The time bound is a correctness check against a hang (a generous multiple of the budget),
not a performance figure.
"""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import text
from sqlalchemy.engine import make_url

from hotline import create_app
from hotline.db import DEFAULT_BUSY_SECONDS, DatabaseDeadline, current_deadline, make_engine
from hotline.extensions import db
from hotline.models import Report
from hotline.settings import Settings
from tests.conftest import SAFE_SCHOOLS, RedisServer, TwilioClient, free_port, make_settings
from tests.voice.driver import Doc, VoiceCall

BUDGET = 2.0
# Budget, plus libpq's 2 s minimum connect timeout, plus a slow shared machine. Before the
# budget, SQLite waited 10 s per statement and PostgreSQL for as long as the lock was held.
BOUND = BUDGET + 4
# The lock is let go after this long whatever happens, so a regression fails instead of hanging.
LOCK_SAFETY = 30


@pytest.fixture
def settings(tmp_path: Path, database_url: str, redis_server: RedisServer) -> Settings:
    return make_settings(tmp_path, database_url, redis_server.url, voice={"db_budget_seconds": BUDGET})


@contextmanager
def write_locked(url: str) -> Iterator[None]:
    """Hold the database's write lock (SQLite) or lock the call tables (PostgreSQL)."""
    ready, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def hold() -> None:
        try:
            if make_url(url).get_backend_name() == "sqlite":
                conn = sqlite3.connect(make_url(url).database or "", timeout=5, isolation_level=None)
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    ready.set()
                    release.wait(LOCK_SAFETY)
                    conn.execute("ROLLBACK")
                finally:
                    conn.close()
                return
            engine = make_engine(url)
            try:
                with engine.connect() as conn:
                    conn.execute(text("LOCK TABLE calls, reports IN ACCESS EXCLUSIVE MODE"))
                    ready.set()
                    release.wait(LOCK_SAFETY)
                    conn.rollback()
            finally:
                engine.dispose()
        except BaseException as exc:  # re-raised in the test's thread
            errors.append(exc)
            ready.set()

    thread = threading.Thread(target=hold)
    thread.start()
    ready.wait(10)
    try:
        if errors:
            raise errors[0]
        yield
    finally:
        release.set()
        thread.join(LOCK_SAFETY + 10)


def assert_error_path(doc: Doc) -> None:
    """The salvage answer: apology, 911 advice, and a recording of the caller's message."""
    assert "technical problem" in doc.text() and "9 1 1" in doc.text()
    callback = doc.first("Record").attrib["recordingStatusCallback"].partition("#")[0]
    assert callback.endswith("/voice/recording/safe_schools/message")


@pytest.mark.slow  # waits out the database budget in real time
def test_a_new_call_on_a_locked_database_gets_the_error_answer_within_the_budget(
    app: Flask, twilio: TwilioClient, settings: Settings
) -> None:
    call = VoiceCall(twilio, SAFE_SCHOOLS)
    with write_locked(settings.database_url):
        started = time.monotonic()
        doc = call.start()  # a valid TwiML document, status 200
        elapsed = time.monotonic() - started
    assert_error_path(doc)
    assert elapsed < BOUND, f"the webhook took {elapsed:.1f} s"


@pytest.mark.slow  # waits out the database budget in real time
def test_a_call_in_progress_on_a_locked_database_gets_the_error_answer_within_the_budget(
    app: Flask, twilio: TwilioClient, settings: Settings
) -> None:
    call = VoiceCall(twilio, SAFE_SCHOOLS)
    call.start()
    menu = call.doc.first("Gather").attrib["action"]  # type: ignore[union-attr]
    with write_locked(settings.database_url):
        started = time.monotonic()
        doc = call.press("1")
        elapsed = time.monotonic() - started
    assert_error_path(doc)
    assert elapsed < BOUND, f"the webhook took {elapsed:.1f} s"
    # The lock is gone: the budget left nothing behind on the pooled connections.
    assert "technical problem" not in call.post(menu, {"Digits": "1"}).text()


@pytest.mark.slow  # waits out the database budget in real time
def test_several_waiting_statements_share_one_budget(app: Flask, settings: Settings) -> None:
    """Per request, not per statement: the second statement gets what the first left."""
    failures: list[Exception] = []
    with app.app_context(), write_locked(settings.database_url):
        started = time.monotonic()
        with db.deadline(BUDGET):
            for _ in range(3):
                try:
                    db.session.add(Report(hotline_id="safe_schools", tip_number="12345678", keypad={}, categories=[]))
                    db.session.flush()
                except Exception as exc:  # each attempt must fail while locked
                    failures.append(exc)
                    db.session.rollback()
        elapsed = time.monotonic() - started
    assert len(failures) == 3
    assert elapsed < BOUND, f"three statements took {elapsed:.1f} s"
    # The first waited for the lock until the deadline; the others did not wait at all.
    assert all(isinstance(exc, DatabaseDeadline) for exc in failures[1:]), failures


@pytest.mark.slow  # waits out the database budget in real time
def test_the_budget_ends_with_the_request(app: Flask, twilio: TwilioClient, settings: Settings) -> None:
    """Work outside a webhook (review pages, workers) keeps the ordinary waits."""
    call = VoiceCall(twilio, SAFE_SCHOOLS)
    call.start()
    with write_locked(settings.database_url):
        assert_error_path(call.press("1"))
    assert current_deadline() is None
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            assert db.session.execute(text("PRAGMA busy_timeout")).scalar() == DEFAULT_BUSY_SECONDS * 1000
        else:
            timeouts = "SELECT current_setting('lock_timeout'), current_setting('statement_timeout')"
            assert tuple(db.session.execute(text(timeouts)).one()) == ("0", "0")


@contextmanager
def unreachable_app(tmp_path: Path, redis_server: RedisServer, url: str) -> Iterator[Flask]:
    settings = make_settings(tmp_path, url, redis_server.url, voice={"db_budget_seconds": BUDGET})
    application = create_app(settings)
    try:
        yield application
    finally:
        db.dispose()


def post_in_thread(app: Flask, limit: float) -> tuple[Doc | None, float]:
    """Start a call; give up waiting after `limit` seconds (the caller would have heard Twilio's error)."""
    result: list[Doc] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            result.append(VoiceCall(TwilioClient(app.test_client()), SAFE_SCHOOLS).start())
        except BaseException as exc:  # re-raised in the test's thread
            errors.append(exc)

    started = time.monotonic()
    thread = threading.Thread(target=run)
    thread.start()
    thread.join(limit)
    elapsed = time.monotonic() - started
    if errors:
        raise errors[0]
    return (result[0] if result else None), elapsed


def test_postgresql_refusing_connections_gets_the_error_answer(tmp_path: Path, redis_server: RedisServer) -> None:
    closed = free_port()  # nothing listens there: every connection is refused
    with unreachable_app(tmp_path, redis_server, f"postgresql+psycopg://postgres@127.0.0.1:{closed}/hotline") as app:
        doc, elapsed = post_in_thread(app, BOUND)
    assert doc is not None, "the webhook did not answer"
    assert_error_path(doc)
    assert elapsed < BOUND


@pytest.mark.slow  # waits out the database budget in real time
def test_postgresql_that_never_answers_gets_the_error_answer_within_the_budget(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    # A server that accepts the TCP connection and then says nothing (hung, or a black hole
    # behind a proxy): libpq waits for its connect timeout, by default for ever.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    port = silent.getsockname()[1]
    try:
        with unreachable_app(tmp_path, redis_server, f"postgresql+psycopg://postgres@127.0.0.1:{port}/hotline") as app:
            doc, elapsed = post_in_thread(app, BOUND)
            silent.close()  # resets any connection still waiting, so a stuck request ends
    finally:
        silent.close()
    assert doc is not None, f"the webhook had not answered after {elapsed:.1f} s"
    assert_error_path(doc)
