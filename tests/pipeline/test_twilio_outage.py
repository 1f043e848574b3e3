"""Twilio's API unreachable or erring for longer than RQ's retries (issue 8, item 5).

The real fetch job and sweep run against FakeTwilio stopped (connections refused) or
answering errors; a recording must end stored, never dead, however long the outage, while
only permanent answers dead-letter.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis
from flask import Flask
from rq import Queue
from sqlalchemy import select

from hotline.extensions import db, queues, runtime
from hotline.models import Event, Recording, Report, SystemAlert, utcnow
from hotline.pipeline.services import services_for
from hotline.queueing import QUEUE_NAMES
from hotline.twilio_api import TwilioApi
from tests.pipeline.conftest import run_jobs
from workers.sweeps import sweep


@pytest.fixture
def app(papp: Flask) -> Iterator[Flask]:
    """`papp` with the adapter's in-job pauses off: the outage is played by the test."""
    settings = runtime.get(papp).settings
    svc = services_for(settings)
    svc.twilio = TwilioApi(
        settings.twilio_api_base_url, settings.twilio_account_sid, settings.twilio_auth_token, backoff=0
    )
    yield papp
    del svc.twilio


def _rec(app: Flask) -> Recording:
    with app.app_context():
        rec = db.session.scalars(select(Recording)).one()
        db.session.expunge(rec)
        return rec


def _report(app: Flask) -> Report:
    with app.app_context():
        report = db.session.scalars(select(Report)).one()
        db.session.expunge(report)
        return report


def _kinds(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(Event.kind).order_by(Event.id)))


def _queued(app: Flask) -> set[str]:
    with app.app_context():
        conn = redis.Redis.from_url(queues.url)
        return {job_id for name in QUEUE_NAMES for job_id in Queue(name, connection=conn).job_ids}


def _time_passes(app: Flask, **delta: float) -> None:
    """Move the recording's clocks back, as if `delta` had passed (no test waits)."""
    gap = timedelta(**delta)
    with app.app_context():
        rec = db.session.scalars(select(Recording)).one()
        rec.created_at -= gap
        if rec.failing_since is not None:
            rec.failing_since -= gap
        if rec.next_fetch_at is not None:
            rec.next_fetch_at -= gap
        report = db.session.scalars(select(Report)).one()
        if report.call_ended_at is not None:
            report.call_ended_at -= gap
        db.session.commit()


def test_an_outage_longer_than_rqs_retries_ends_stored_never_dead(
    app: Flask, place_call: Any, fake_twilio: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    place_call("u01.wav", topic="6", district="3")  # "a kid with a gun"; keypad: normal
    fake_twilio.stop()  # Twilio's API refuses connections
    run_jobs(app)  # the callback's job and all of RQ's retries fail
    rec = _rec(app)
    assert rec.fetch_state == "retrying" and rec.attempts == 0  # not counted toward dead
    assert rec.transient_failures == 6 and rec.failing_since is not None
    assert rec.next_fetch_at is not None and rec.next_fetch_at > utcnow() + timedelta(minutes=30)
    with app.app_context():
        sweep()
    assert f"fetch-{rec.recording_sid}" not in _queued(app)  # the backoff is honoured
    assert _report(app).routed_at is None  # a normal report waits out the grace period first

    _time_passes(app, minutes=20)  # past the grace period and the alert threshold
    with app.app_context():
        sweep()
        sweep()  # once per outage, not once per sweep
    run_jobs(app)
    report = _report(app)
    assert report.routed_at is not None and report.urgency == "normal"  # routed on what it has
    assert "routed_awaiting_audio" in _kinds(app)
    assert caplog.text.count("ALERT Recording downloads from Twilio have failed") == 1

    for _ in range(3):  # days of outage: every try fails, none is counted
        _time_passes(app, days=2)
        with app.app_context():
            sweep()
        run_jobs(app)
        rec = _rec(app)
        assert rec.fetch_state == "retrying" and rec.attempts == 0
        # Backoff capped at an hour between the sweep's tries.
        assert rec.next_fetch_at is not None and rec.next_fetch_at <= utcnow() + timedelta(hours=1)

    fake_twilio.start()  # Twilio is back, on the same URL
    _time_passes(app, hours=1)
    with app.app_context():
        sweep()
    run_jobs(app)
    rec, report = _rec(app), _report(app)
    assert rec.fetch_state == "stored" and rec.transcript_state == "done"
    assert rec.failing_since is None and rec.recording_sid in fake_twilio.deleted
    # The audio that came late re-classified the report: the gun makes it critical.
    assert report.urgency == "critical" and "weapons" in report.categories
    kinds = _kinds(app)
    assert "recording_dead" not in kinds and kinds.count("recording_stored") == 1
    with app.app_context():
        sweep()
        [alert] = db.session.scalars(select(SystemAlert)).all()
        assert alert.resolved_at is not None and alert.detail["recordings"] == 1
        assert "ConnectionError" in alert.detail["last_error"]
    assert caplog.text.count("ALERT") == 1


def test_a_critical_report_is_routed_on_time_while_twilio_is_down(
    app: Flask, place_call: Any, fake_twilio: Any
) -> None:
    place_call("u03.wav", topic="1")  # weapons on the keypad: critical
    fake_twilio.stop()
    run_jobs(app)
    report = _report(app)
    assert report.urgency == "critical" and report.routed_at is not None  # not held by the outage
    assert "routed_awaiting_audio" in _kinds(app)
    assert _rec(app).fetch_state == "retrying"
    fake_twilio.start()


def test_transient_failures_past_the_retry_window_are_dead_lettered(
    app: Flask, place_call: Any, fake_twilio: Any
) -> None:
    place_call("u03.wav")
    fake_twilio.stop()
    run_jobs(app)
    _time_passes(app, days=8)  # pipeline.fetch_retry_days is 7
    with app.app_context():
        sweep()
    run_jobs(app)
    rec = _rec(app)
    assert rec.fetch_state == "dead" and "still failing after 7 days" in (rec.last_error or "")
    fake_twilio.start()


def test_5xx_and_429_are_transient_too(app: Flask, place_call: Any, fake_twilio: Any) -> None:
    fake_twilio.fail_next("/Recordings/", times=12, status=503)
    fake_twilio.fail_next("/Recordings/", times=12, status=429)
    place_call("u03.wav")
    run_jobs(app)  # 6 runs x 3 requests: 18 errors
    rec = _rec(app)
    assert rec.fetch_state == "retrying" and rec.attempts == 0 and "429" in (rec.last_error or "")
    _time_passes(app, hours=1)
    with app.app_context():
        sweep()
    run_jobs(app)
    assert _rec(app).fetch_state == "stored"


def test_a_404_waits_for_the_call_to_end_then_dead_letters(app: Flask, place_call: Any, fake_twilio: Any) -> None:
    fake_twilio.fail_next("/Recordings/", times=1000, status=404)
    call = place_call("u03.wav", hang_up=False)
    run_jobs(app)
    rec = _rec(app)
    assert rec.fetch_state == "retrying" and rec.attempts == 0  # the call goes on: maybe not there yet
    call.hang_up()
    _time_passes(app, hours=1)
    with app.app_context():
        sweep()
    run_jobs(app)
    rec = _rec(app)
    assert rec.fetch_state == "dead" and rec.attempts == 4 and "404" in (rec.last_error or "")
    assert _report(app).routed_at is not None


def test_401_with_working_credentials_dead_letters(app: Flask, place_call: Any, fake_twilio: Any) -> None:
    fake_twilio.fail_next("/Recordings/", times=1000, status=401)  # this recording only
    place_call("u03.wav")
    run_jobs(app)
    rec = _rec(app)
    assert rec.fetch_state == "dead" and rec.attempts == 4 and "401" in (rec.last_error or "")
    # It asked Twilio whether our credentials work (they do) before giving up.
    assert ("GET", f"/2010-04-01/Accounts/{fake_twilio.account_sid}.json") in fake_twilio.requests_log


def test_401_from_a_rotated_auth_token_keeps_retrying_until_fixed(
    app: Flask, place_call: Any, fake_twilio: Any
) -> None:
    place_call("u03.wav")
    token = fake_twilio.auth_token
    fake_twilio.auth_token = "rotated-in-the-console"  # ours is now wrong for everything
    run_jobs(app)
    rec = _rec(app)
    assert rec.fetch_state == "retrying" and rec.attempts == 0 and "401" in (rec.last_error or "")
    fake_twilio.auth_token = token  # an admin puts the right token back
    _time_passes(app, hours=1)
    with app.app_context():
        sweep()
    run_jobs(app)
    assert _rec(app).fetch_state == "stored"


def test_an_invalid_wav_is_dead_lettered(app: Flask, place_call: Any, fake_twilio: Any) -> None:
    call = place_call("u03.wav")
    fake_twilio.add_recording(fake_twilio.account_sid, call.recordings[0], b"<html>not audio</html>")
    run_jobs(app)
    rec = _rec(app)
    assert rec.fetch_state == "dead" and rec.attempts == 4 and "InvalidAudio" in (rec.last_error or "")
