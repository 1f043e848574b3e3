"""The outside test's scenarios, repeated on every run: calls placed through the simulator
while something fails, then the system left to recover; nothing may be lost or done twice.

Each scenario prints its tally at the end of the run (calls placed / complete / lost /
duplicated) and asserts lost == 0 and duplicated == 0.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select

from hotline.extensions import db
from hotline.models import Recording, Report
from hotline.simulator.call import CallResult
from tests.faults.conftest import Hotline
from tests.faults.harness import (
    UTTERANCES,
    place_safe_schools_call,
    postgres_table_lock,
    sqlite_write_lock,
    tally,
)
from tests.pipeline.conftest import run_jobs
from tests.worker.conftest import Workers, long_wav, wait_for
from workers.sweeps import sweep


def recover(line: Hotline, rounds: int = 3) -> None:
    """Let the system do what it does after a fault: the periodic sweep and the workers."""
    for _ in range(rounds):
        time.sleep(1.1)  # past the callback grace and the reconciler's interval (1 s here)
        with line.app.app_context():
            sweep()
        run_jobs(line.app)


def assert_nothing_lost(line: Hotline, scenario: str, results: list[CallResult]) -> None:
    found = tally(line.app, scenario, results)
    assert found.lost == 0, found.notes
    assert found.duplicated == 0
    assert found.complete == found.placed, found.notes


class FaultySession(requests.Session):
    """The simulator's HTTP client, with a hook before each request it sends to the app."""

    def __init__(self, before: Callable[[str, str], None]) -> None:
        super().__init__()
        self.before = before

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.before(str(method), str(url))
        return super().request(method, url, *args, **kwargs)


@contextmanager
def database_down(line: Hotline, how: str = "down") -> Iterator[None]:
    """PostgreSQL refusing connections (or its call tables locked), or SQLite write-locked."""
    if line.proxy is not None and how == "down":
        line.proxy.refuse()
        try:
            yield
        finally:
            line.proxy.accept()
    elif line.proxy is not None:
        with postgres_table_lock(line.database_url):
            yield
    else:
        with sqlite_write_lock(line.database_url):
            yield


def test_no_fault(hotline: Hotline) -> None:
    results = [place_safe_schools_call(hotline.url, hotline.fake) for _ in range(2)]
    assert all(r.recordings for r in results)
    recover(hotline, rounds=1)
    assert_nothing_lost(hotline, "no fault", results)


@pytest.mark.parametrize("how", ["down", "locked"])
def test_database_down_over_a_whole_call(hotline: Hotline, how: str) -> None:
    """Every webhook fails: the caller is offered the error path and leaves a message."""
    if how == "locked" and hotline.proxy is None:
        pytest.skip("on SQLite, down is a write lock already")
    with database_down(hotline, how):
        result = place_safe_schools_call(hotline.url, hotline.fake, answers=1)
    db.dispose()  # connections cut by the outage are not reused
    heard = " ".join(result.transcript)
    assert "technical problem" in heard and "application error" not in heard
    assert result.recordings, heard
    assert "received" not in heard  # nothing could be stored while it was down
    recover(hotline)
    if hotline.proxy is None:
        name = "SQLite write-locked over a whole call"
    else:
        name = f"PostgreSQL {'refusing connections' if how == 'down' else 'tables locked'} over a call"
    assert_nothing_lost(hotline, name, [result])


def test_database_down_over_one_recording_callback(hotline: Hotline) -> None:
    """The call goes well, but every delivery of one recording's callback fails (Twilio's
    retries included); the database is back for the caller's next key press."""
    outage: dict[str, Any] = {"lock": None, "seen": False}

    def before(method: str, url: str) -> None:
        callback = "/voice/recording/" in url
        if callback and not outage["seen"]:
            outage["lock"], outage["seen"] = database_down(hotline), True
            outage["lock"].__enter__()
        elif not callback and outage["lock"] is not None:
            outage["lock"].__exit__(None, None, None)
            outage["lock"] = None

    result = place_safe_schools_call_with(hotline, FaultySession(before))
    if outage["lock"] is not None:
        outage["lock"].__exit__(None, None, None)
    db.dispose()
    assert outage["seen"] and "technical problem" not in " ".join(result.transcript)
    recover(hotline)
    assert_nothing_lost(hotline, "database down over one recording callback", [result])


def test_database_down_when_the_call_ends(hotline: Hotline) -> None:
    """The call's final status callback is lost: the report must not wait hours to be routed."""
    outage: dict[str, Any] = {"lock": None}

    def around_status(method: str, url: str) -> None:
        if url.endswith("/voice/status") and outage["lock"] is None:
            outage["lock"] = database_down(hotline)
            outage["lock"].__enter__()

    result = place_safe_schools_call_with(hotline, FaultySession(around_status))
    if outage["lock"] is not None:
        outage["lock"].__exit__(None, None, None)
    db.dispose()
    recover(hotline)
    assert_nothing_lost(hotline, "database down for the final call status", [result])


def test_redis_killed_mid_call(hotline: Hotline) -> None:
    """Redis dies while the caller answers and comes back after the call."""
    killed = {"done": False}

    def before(method: str, url: str) -> None:
        if "/voice/recording/" in url and not killed["done"]:
            hotline.redis.stop()
            killed["done"] = True

    result = place_safe_schools_call_with(hotline, FaultySession(before))
    assert killed["done"] and "application error" not in " ".join(result.transcript)
    hotline.redis.start()
    recover(hotline)
    assert_nothing_lost(hotline, "Redis killed mid-call", [result])


def place_safe_schools_call_with(line: Hotline, http: requests.Session) -> CallResult:
    return place_safe_schools_call(line.url, line.fake, http=http)


@pytest.fixture(autouse=True)
def _release_connections() -> Iterator[None]:
    yield
    db.dispose()


def _stored_and_routed(line: Hotline, results: list[CallResult]) -> bool:
    """Whether every recording of these calls is stored and every report routed."""
    with line.app.app_context():
        sids = [s for r in results for s in r.recordings]
        rows = db.session.scalars(select(Recording).where(Recording.recording_sid.in_(sids))).all()
        reports = db.session.scalars(select(Report)).all()
        done = len(rows) == len(sids) and all(r.fetch_state == "stored" for r in rows)
        done = done and bool(reports) and all(r.routed_at is not None for r in reports)
        db.session.rollback()
        return done


@pytest.mark.parametrize("stage", ["fetch", "transcription"])
def test_worker_killed_mid_job(hotline: Hotline, tmp_path: Path, stage: str) -> None:
    """A real `flask worker` is SIGKILLed in the middle of a job; another one takes over."""
    clip = tmp_path / "answer.wav"
    if stage == "fetch":
        hotline.fake.delay_next("/Recordings/RE", seconds=60)  # the first worker's download hangs
        clip.write_bytes((UTTERANCES / "u03.wav").read_bytes())
    else:
        clip.write_bytes(long_wav(15))  # long enough to be decoding when the worker dies
    results = [place_safe_schools_call(hotline.url, hotline.fake, clips=[clip])]
    group = Workers(hotline.app, tmp_path, hotline.fake)
    try:
        first = group.start()
        if stage == "fetch":
            wait_for("a download starts", lambda: any("/Recordings/RE" in p for _, p in hotline.fake.requests_log))
        else:
            wait_for("a transcription starts", lambda: _transcribing(hotline))
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        if stage == "transcription":
            assert _untranscribed(hotline)  # it died while decoding
        hotline.fake.clear_faults()
        group.start()
        wait_for("every report is routed", lambda: _stored_and_routed(hotline, results), within=150)
    finally:
        group.close()
    assert_nothing_lost(hotline, f"worker SIGKILLed mid-{stage}", results)


def _untranscribed(line: Hotline) -> bool:
    with line.app.app_context():
        left = db.session.scalar(select(Recording.id).where(Recording.transcript_state == "none"))
        db.session.rollback()
        return left is not None


def _transcribing(line: Hotline) -> bool:
    with line.app.app_context():
        started = db.session.scalar(select(Recording.id).where(Recording.transcript_attempts >= 1))
        db.session.rollback()
        return started is not None


def test_twilio_api_refusing_connections_longer_than_the_retries(hotline: Hotline) -> None:
    """Twilio's REST API is unreachable for all of RQ's retries and the sweep's first tries,
    then for what would be six hours; then it comes back."""
    results = [place_safe_schools_call(hotline.url, hotline.fake) for _ in range(2)]
    hotline.fake.stop()
    run_jobs(hotline.app)  # every RQ retry fails
    with hotline.app.app_context():
        sweep()
        states = set(db.session.scalars(select(Recording.fetch_state)))
        assert "dead" not in states and "retrying" in states
        # Six hours pass (the clocks move; nothing waits): past every backoff.
        later = timedelta(hours=6)
        for rec in db.session.scalars(select(Recording)):
            rec.created_at -= later
            rec.failing_since = rec.failing_since - later if rec.failing_since else None
            rec.next_fetch_at = rec.next_fetch_at - later if rec.next_fetch_at else None
        db.session.commit()
    hotline.fake.start()
    recover(hotline)
    assert_nothing_lost(hotline, "Twilio's API refusing connections for hours", results)
