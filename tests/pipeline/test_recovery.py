"""What the sweep and the jobs recover from: stuck transcriptions, storage errors, deletes
Twilio refused, notices left unsent, a lost on-call alert, and two runs of one fetch."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from rq import Queue
from sqlalchemy import select, update

from hotline import create_app
from hotline.extensions import db, queues, runtime
from hotline.jobs.locks import Busy
from hotline.models import Assignment, Event, Notification, Recording, Report, utcnow
from hotline.pipeline.sweep import escalate_overdue
from hotline.queueing import QUEUE_NAMES
from tests.conftest import AUTH_TOKEN, SAFE_SCHOOLS, RedisServer, TwilioClient, _clean, make_settings
from tests.pipeline.conftest import run_jobs
from tests.voice.driver import VoiceCall
from workers.recordings import fetch_recording
from workers.sweeps import sweep

ALERT = "caller asked for a dispatcher and nobody answered"


def _one(app: Flask) -> tuple[Recording, Report]:
    with app.app_context():
        rec = db.session.scalars(select(Recording)).one()
        report = db.session.scalars(select(Report)).one()
        db.session.expunge_all()
        return rec, report


def _kinds(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(Event.kind).order_by(Event.id)))


def test_a_transcription_that_keeps_failing_ends_failed_and_the_report_is_routed(papp: Flask, place_call: Any) -> None:
    place_call("u03.wav")
    rec, _ = _one(papp)
    with papp.app_context():
        assert fetch_recording(rec.recording_sid) == "stored"
    rec, _ = _one(papp)
    # The stored object vanishes before it is transcribed: every attempt raises BlobNotFound.
    (Path(runtime.get(papp).settings.storage_path) / str(rec.blob_key)).unlink()
    run_jobs(papp)
    rec, report = _one(papp)
    assert rec.transcript_state == "failed" and rec.transcript_attempts == 3
    assert "BlobNotFound" in (rec.last_error or "")
    assert "transcription_failed" in _kinds(papp)
    assert report.routed_at is not None  # routed on the keypad answers
    with papp.app_context():
        assert sweep()["enqueued"] == 0  # and nothing is retried for ever


def test_a_storage_error_is_counted_and_dead_lettered(papp: Flask, place_call: Any, fake_twilio: Any) -> None:
    place_call("u03.wav")
    rec, _ = _one(papp)
    # A file where the report's directory must go: every store raises (FileExistsError).
    blocker = Path(runtime.get(papp).settings.storage_path) / "recordings" / str(rec.report_id)
    blocker.parent.mkdir(parents=True)
    blocker.write_bytes(b"")
    run_jobs(papp)
    rec, report = _one(papp)
    assert rec.fetch_state == "dead" and rec.attempts == 4 and "FileExistsError" in (rec.last_error or "")
    assert fake_twilio.has_recording(rec.recording_sid)  # never deleted: Twilio's is the only copy
    assert report.routed_at is not None


def test_a_delete_twilio_refused_is_retried_by_the_sweep(papp: Flask, place_call: Any, fake_twilio: Any) -> None:
    fake_twilio.fail_next(".json", times=2, status=403, method="DELETE")
    place_call("u03.wav")
    run_jobs(papp)
    rec, _ = _one(papp)
    assert rec.fetch_state == "stored" and not rec.deleted_from_twilio
    for _ in range(2):
        with papp.app_context():
            assert sweep()["enqueued"] >= 1
        run_jobs(papp)
    rec, _ = _one(papp)
    assert rec.deleted_from_twilio and not fake_twilio.has_recording(rec.recording_sid)
    assert sum(1 for m, p in fake_twilio.requests_log if m == "DELETE") == 3
    kinds = _kinds(papp)
    assert kinds.count("transcribed") == 1 and kinds.count("recording_deleted_at_twilio") == 1
    with papp.app_context():
        assert sweep()["enqueued"] == 0


@pytest.fixture
def sms_app(tmp_path: Path, database_url: str, redis_server: RedisServer, fake_twilio: Any) -> Iterator[Flask]:
    """The pipeline app with SMS notices on, sent through the fake Twilio."""
    settings = make_settings(
        tmp_path,
        database_url,
        redis_server.url,
        twilio_api_base_url=fake_twilio.base_url,
        pipeline={"fetch_attempts": 4, "reconcile_seconds": 1, "job_timeout_seconds": 60},
        notifications={"sms": True, "sms_from": SAFE_SCHOOLS},
    )
    redis.Redis.from_url(redis_server.url).flushall()
    _clean(database_url)
    yield create_app(settings)
    db.dispose()
    _clean(database_url)
    redis.Redis.from_url(redis_server.url).flushall()


def _sms_to(fake: Any) -> Counter[str]:
    return Counter(m["to"] for m in fake.messages)


def test_notices_unsent_after_every_retry_are_sent_by_the_sweep(sms_app: Flask, fake_twilio: Any) -> None:
    from tests.pipeline.test_late_recordings import call_with_late_recordings

    fake_twilio.fail_next("/Messages.json", times=1000, status=401)  # SMS refused until cleared
    call_with_late_recordings(sms_app, fake_twilio, ["u11.wav"], [])
    run_jobs(sms_app)  # RQ's retries all fail
    with sms_app.app_context():
        unsent = list(db.session.scalars(select(Notification).where(Notification.status != "sent")))
    assert {n.channel for n in unsent} == {"sms"} and not fake_twilio.messages
    fake_twilio.clear_faults()
    with sms_app.app_context():
        assert sweep()["enqueued"] >= 1
    run_jobs(sms_app)
    # Safe Schools unit and the 2nd Precinct have SMS contacts; each gets one text.
    assert _sms_to(fake_twilio) == Counter({"+13146150110": 1, "+13146150102": 1})
    with sms_app.app_context():
        assert all(n.status == "sent" for n in db.session.scalars(select(Notification)))
        assert sweep()["enqueued"] == 0


def test_an_escalation_whose_notify_job_was_lost_is_sent_by_the_sweep(papp: Flask, place_call: Any) -> None:
    place_call("u11.wav", topic="1")  # critical
    run_jobs(papp)
    with papp.app_context():
        db.session.execute(update(Assignment).values(due_at=utcnow()))
        db.session.commit()
        assert escalate_overdue() == 3  # the three agencies of a district-3 report
    for name in QUEUE_NAMES:  # as if Redis had gone down right after the escalation's commit
        Queue(name, connection=redis.Redis.from_url(queues.url)).empty()
    with papp.app_context():
        assert sweep()["enqueued"] == 3 and sweep()["enqueued"] == 0  # one live job each, not two
    run_jobs(papp)
    with papp.app_context():
        level1 = list(db.session.scalars(select(Notification).where(Notification.level == 1)))
    assert level1 and all(n.status == "sent" for n in level1)
    assert "+13146150900" in {n.target for n in level1}  # the on-call dispatcher, too


def _transfer_nobody_answers(app: Flask, server: RedisServer | None = None) -> VoiceCall:
    call = VoiceCall(TwilioClient(app.test_client(), AUTH_TOKEN), SAFE_SCHOOLS)
    call.start()
    call.press("0")
    if server is not None:
        server.stop()
    call.dial_result("no-answer")  # answered as usual whatever Redis does
    if server is not None:
        server.start()
    return call


def test_an_on_call_alert_lost_with_redis_is_sent_by_the_sweep_once(
    tmp_path: Path, database_url: str, fake_twilio: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    server = RedisServer(tmp_path)
    server.start()
    settings = make_settings(tmp_path, database_url, server.url, twilio_api_base_url=fake_twilio.base_url)
    _clean(database_url)
    app = create_app(settings)
    try:
        _transfer_nobody_answers(app, server)
        with app.app_context():
            assert sweep()["enqueued"] == 1
        run_jobs(app)
        with app.app_context():
            sweep()
        run_jobs(app)
        assert caplog.text.count(ALERT) == 1
        assert _kinds(app).count("on_call_alerted") == 1
    finally:
        db.dispose()
        _clean(database_url)
        if server.proc is not None:
            redis.Redis.from_url(server.url).flushall()
        server.stop()


def test_the_webhooks_alert_and_the_sweeps_send_one_alert(papp: Flask, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    _transfer_nobody_answers(papp)
    with papp.app_context():
        assert sweep()["enqueued"] == 1  # the webhook's job has not run yet: both are queued
    run_jobs(papp)
    assert caplog.text.count(ALERT) == 1
    assert _kinds(papp).count("on_call_alerted") == 1


def test_a_second_concurrent_fetch_neither_stores_nor_deletes(papp: Flask, place_call: Any, fake_twilio: Any) -> None:
    fake_twilio.delay_next("/Recordings/", seconds=2)  # the first run's download is slow
    place_call("u03.wav")
    rec, _ = _one(papp)
    results: list[str] = []

    def first() -> None:
        with papp.app_context():
            results.append(fetch_recording(rec.recording_sid))

    thread = threading.Thread(target=first)
    thread.start()
    deadline = time.monotonic() + 10
    while rec.recording_sid not in "".join(p for m, p in fake_twilio.requests_log if m == "GET"):
        assert time.monotonic() < deadline, "the first run never started its download"
        time.sleep(0.02)
    with papp.app_context(), pytest.raises(Busy):
        fetch_recording(rec.recording_sid)  # a presumed-dead worker's twin
    thread.join(timeout=20)
    assert results == ["stored"]
    assert fake_twilio.fetched == [rec.recording_sid]  # downloaded once
    assert sum(1 for m, _ in fake_twilio.requests_log if m == "DELETE") == 1
    assert _kinds(papp).count("recording_stored") == 1
    run_jobs(papp)  # the queued job finds it stored and goes on to transcribe
    rec, report = _one(papp)
    assert rec.transcript_state == "done" and report.routed_at is not None
