"""Recordings that arrive late: after the call's final status, after routing, after a retry."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from flask import Flask
from rq import Queue
from sqlalchemy import select, update

from hotline import create_app
from hotline.extensions import db
from hotline.models import Assignment, Event, Notification, Recording, Report, utcnow
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, ROOT, SAFE_SCHOOLS, RedisServer, TwilioClient, _clean, make_settings
from tests.pipeline.conftest import UTTERANCES, run_jobs
from tests.voice.driver import VoiceCall
from workers.sweeps import sweep

RIVERBEND = ["precinct_2_central", "riverbend_sd", "safe_schools_unit"]  # district 3, any topic
# The recogniser hears "gun" but not "drugs" in the test clips, so a rule on weapons stands
# in for a category that brings in another agency.
WEAPONS_RULE = {"hotline": "safe_schools", "category": ["weapons"], "agencies": ["precinct_1_north"]}


@pytest.fixture
def wapp(tmp_path: Path, database_url: str, redis_server: RedisServer, fake_twilio: Any) -> Iterator[Flask]:
    """Like `papp`, with weapons also routed to the 1st Precinct."""
    routing = yaml.safe_load((ROOT / "config.yaml").read_text())["routing"]
    settings = make_settings(
        tmp_path,
        database_url,
        redis_server.url,
        twilio_api_base_url=fake_twilio.base_url,
        pipeline={"fetch_attempts": 4, "reconcile_seconds": 1, "job_timeout_seconds": 60},
        routing=[*routing, WEAPONS_RULE],
    )
    redis.Redis.from_url(redis_server.url).flushall()
    _clean(database_url)
    yield create_app(settings)
    db.dispose()
    _clean(database_url)
    redis.Redis.from_url(redis_server.url).flushall()


def call_with_late_recordings(
    app: Flask, fake: Any, on_time: list[str], late: list[str]
) -> tuple[VoiceCall, list[tuple[str, str, str]]]:
    """A topic-6 (anything else), district-3 call; `late` clips' callbacks are held back.

    Returns the call (already hung up) and, per late clip, (callback URL, RecordingSid, URL).
    """
    clips = iter(on_time + late)
    call = VoiceCall(TwilioClient(app.test_client(), AUTH_TOKEN), SAFE_SCHOOLS, media_base=fake.base_url)
    call.on_record = lambda sid: fake.add_recording(fake.account_sid, sid, (UTTERANCES / next(clips)).read_bytes())
    call.start()
    call.press("1")
    call.press("6")
    held = []
    for i in range(len(on_time) + len(late)):
        assert call.doc is not None
        callback = call.doc.first("Record").attrib["recordingStatusCallback"]
        is_late = i >= len(on_time)
        call.answer("#", callback=not is_late)
        if is_late:
            sid = call.recordings[-1]
            held.append((callback, sid, f"{fake.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{sid}"))
    for _ in range(5 - len(on_time) - len(late)):
        call.press("#")
    call.press("3")
    call.press("9")
    call.press("", "#")
    assert call.hang_up() == 204
    return call, held


def _sent_per_agency(app: Flask) -> Counter[str]:
    with app.app_context():
        rows = db.session.execute(
            select(Assignment.agency_id)
            .join(Notification, Notification.assignment_id == Assignment.id)
            .where(Notification.status == "sent", Notification.level == 0)
        )
        return Counter(agency for (agency,) in rows)


def test_a_recording_called_back_after_the_call_ended_is_waited_for(papp: Flask, fake_twilio: Any) -> None:
    call, [(callback, sid, url)] = call_with_late_recordings(papp, fake_twilio, [], ["u01.wav"])  # "gun"
    run_jobs(papp)
    with papp.app_context():
        report = db.session.scalars(select(Report)).one()
        assert report.call_ended_at is not None and report.routed_at is None  # waiting for the recording
    assert call.recording_status(callback, sid, url, 7) == 204
    run_jobs(papp)
    with papp.app_context():
        report = db.session.scalars(select(Report)).one()
        kinds = list(db.session.scalars(select(Event.kind)))
    assert report.urgency == "critical" and "weapons" in report.categories
    assert _sent_per_agency(papp) == Counter(RIVERBEND)  # each agency told exactly once
    assert kinds.count("classified") == 1 and kinds.count("routed") == 1


def test_a_transcript_landing_after_routing_reclassifies_and_notifies_new_agencies(
    wapp: Flask, fake_twilio: Any, caplog: pytest.LogCaptureFixture
) -> None:
    papp = wapp
    caplog.set_level(logging.INFO)
    call, late = call_with_late_recordings(papp, fake_twilio, ["u11.wav"], ["u01.wav", "u02.wav"])
    run_jobs(papp)
    with papp.app_context():
        assert db.session.scalars(select(Report)).one().routed_at is None  # within the grace period
        # Ten minutes on, still no callback: the report is routed on what there is.
        db.session.execute(update(Report).values(call_ended_at=utcnow() - timedelta(minutes=11)))
        db.session.commit()
        sweep()
    run_jobs(papp)
    with papp.app_context():
        report = db.session.scalars(select(Report)).one()
        assert report.routed_at is not None and report.urgency == "normal"
    assert _sent_per_agency(papp) == Counter(RIVERBEND)

    for callback, sid, url in late:  # "a kid with a gun", "going to kill me"
        assert call.recording_status(callback, sid, url, 7) == 204
    run_jobs(papp)
    before_late = utcnow()
    with papp.app_context():
        report = db.session.scalars(select(Report)).one()
        assignments = {a.agency_id: a for a in db.session.scalars(select(Assignment))}
        kinds = list(db.session.scalars(select(Event.kind)))
        assert all(r.classified_at for r in db.session.scalars(select(Recording)))
    assert report.urgency == "critical" and {"weapons", "violence_threat"} <= set(report.categories)
    assert _sent_per_agency(papp) == Counter([*RIVERBEND, "precinct_1_north"])  # no one told twice
    # Every deadline now runs at the critical pace, from the re-classification at the latest.
    for assignment in assignments.values():
        assert assignment.due_at <= before_late + timedelta(seconds=300)
    assert assignments["precinct_1_north"].due_at > before_late + timedelta(seconds=240)
    assert f"New critical Safe Schools hotline report {report.reference}" in caplog.text
    assert kinds.count("reclassified") == 1 and kinds.count("routed") == 2
    with papp.app_context():
        assert sweep()["enqueued"] == 0  # nothing left pending


def test_retrying_a_dead_recording_of_a_routed_report_routes_what_it_adds(wapp: Flask, fake_twilio: Any) -> None:
    papp = wapp
    fake_twilio.fail_next("/Recordings/", times=100, status=404)  # gone at Twilio: permanent
    call, [] = call_with_late_recordings(papp, fake_twilio, ["u01.wav"], [])  # "a kid with a gun"
    run_jobs(papp)
    with papp.app_context():
        rec = db.session.scalars(select(Recording)).one()
        report = db.session.scalars(select(Report)).one()
        assert rec.fetch_state == "dead" and report.routed_at is not None and report.urgency == "normal"
    fake_twilio.clear_faults()
    result = papp.test_cli_runner().invoke(args=["reports", "retry", rec.recording_sid])
    assert result.exit_code == 0, result.output
    run_jobs(papp)
    with papp.app_context():
        rec = db.session.scalars(select(Recording)).one()
        report = db.session.scalars(select(Report)).one()
    assert rec.fetch_state == "stored" and rec.transcript_state == "done"
    assert report.urgency == "critical" and "weapons" in report.categories
    assert _sent_per_agency(papp) == Counter([*RIVERBEND, "precinct_1_north"])
    assert call.call_sid


def test_retry_queues_a_critical_reports_recording_on_the_critical_queue(
    papp: Flask, place_call: Any, fake_twilio: Any, redis_server: RedisServer
) -> None:
    fake_twilio.fail_next("/Recordings/", times=100, status=404)  # gone at Twilio: permanent
    place_call("u11.wav", topic="1")  # weapons on the keypad: critical
    run_jobs(papp)
    with papp.app_context():
        sid = db.session.scalars(select(Recording.recording_sid)).one()
    result = papp.test_cli_runner().invoke(args=["reports", "retry", sid])
    assert result.exit_code == 0, result.output
    conn = redis.Redis.from_url(redis_server.url)
    assert f"fetch-{sid}" in Queue("critical", connection=conn).job_ids
    assert f"fetch-{sid}" not in Queue("recordings", connection=conn).job_ids
