"""The secure voicemail queue end to end: fetch, encrypt, store, delete, transcribe, route, notify."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from hotline.extensions import db, runtime
from hotline.models import Assignment, Event, Notification, Recording, Report
from hotline.pipeline.services import services_for
from tests.pipeline.conftest import UTTERANCES, run_jobs


def _report(app: Flask) -> Report:
    with app.app_context():
        report = db.session.scalars(select(Report)).one()
        db.session.expunge(report)
        return report


def _recordings(app: Flask) -> list[Recording]:
    with app.app_context():
        rows = list(db.session.scalars(select(Recording).order_by(Recording.id)))
        for row in rows:
            db.session.expunge(row)
        return rows


def _events(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(Event.kind).order_by(Event.id)))


def test_a_report_is_stored_encrypted_transcribed_routed_and_notified(
    papp: Flask, place_call: Any, fake_twilio: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    call = place_call("u01.wav", "u11.wav", topic="6", district="3")
    run_jobs(papp)

    recs = _recordings(papp)
    assert [r.fetch_state for r in recs] == ["stored", "stored"]
    assert all(r.deleted_from_twilio and r.recording_sid in fake_twilio.deleted for r in recs)
    assert [r.transcript_state for r in recs] == ["done", "done"]
    storage = Path(runtime.get(papp).settings.storage_path)
    for rec in recs:
        raw = (storage / rec.blob_key).read_bytes()  # type: ignore[operator]
        assert b"RIFF" not in raw and b"WAVE" not in raw  # ciphertext on disk, never audio
        with papp.app_context():
            store = services_for(runtime.get(papp).settings).store
            audio = store.get_decrypted(rec.blob_key, f"recording:{rec.recording_sid}".encode())
        assert audio == (UTTERANCES / ("u01.wav" if rec is recs[0] else "u11.wav")).read_bytes()
    report = _report(papp)
    # Keypad said "anything else"; the transcript said "gun": critical, weapons.
    assert report.urgency == "critical" and "weapons" in report.categories
    assert report.routed_at is not None
    with papp.app_context():
        agencies = sorted(db.session.scalars(select(Assignment.agency_id)))
        sent = list(db.session.scalars(select(Notification).where(Notification.status == "sent")))
    assert agencies == ["precinct_2_central", "riverbend_sd", "safe_schools_unit"]
    assert len(sent) == 3 and {n.channel for n in sent} == {"log"}
    assert f"New critical Safe Schools hotline report {report.reference} is waiting" in caplog.text
    assert "gun" not in caplog.text.lower()  # notices and logs carry no content
    kinds = _events(papp)
    for kind in ("recording_stored", "recording_deleted_at_twilio", "transcribed", "classified", "routed", "notified"):
        assert kind in kinds
    # The timeline is not encrypted: it says what was found, never the caller's words.
    with papp.app_context():
        details = [str(d) for d in db.session.scalars(select(Event.detail))]
    assert not any("gun" in d.lower() for d in details)
    assert call.call_sid


def test_every_job_twice_changes_nothing_twice(papp: Flask, place_call: Any, fake_twilio: Any) -> None:
    place_call("u03.wav")
    run_jobs(papp)
    before = (_events(papp), len(fake_twilio.messages))
    with papp.app_context():
        from workers.recordings import fetch_recording, transcribe_recording
        from workers.reports import finalize_report, notify_assignment

        rec = db.session.scalars(select(Recording)).one()
        sid, report_id = rec.recording_sid, rec.report_id
        assignment_ids = list(db.session.scalars(select(Assignment.id)))
    with papp.app_context():
        fetch_recording(sid)
        transcribe_recording(sid)
        finalize_report(report_id)
        for assignment_id in assignment_ids:
            notify_assignment(assignment_id, 0)
    run_jobs(papp)
    assert (_events(papp), len(fake_twilio.messages)) == before
    with papp.app_context():
        assert len(db.session.scalars(select(Recording)).all()) == 1
        assert len(db.session.scalars(select(Assignment)).all()) == len(assignment_ids)
        assert all(n.status == "sent" for n in db.session.scalars(select(Notification)))


def test_twilio_fails_three_times_then_succeeds(papp: Flask, place_call: Any, fake_twilio: Any) -> None:
    fake_twilio.fail_next("/Recordings/", times=3, status=503)
    place_call("u02.wav")
    run_jobs(papp)
    [rec] = _recordings(papp)
    assert rec.fetch_state == "stored" and rec.transcript_state == "done"
    assert _report(papp).routed_at is not None


def test_a_recording_that_keeps_failing_is_dead_lettered_and_can_be_retried(
    papp: Flask, place_call: Any, fake_twilio: Any
) -> None:
    fake_twilio.fail_next("/Recordings/", times=100, status=404)  # gone at Twilio: permanent
    place_call("u04.wav")
    run_jobs(papp)
    [rec] = _recordings(papp)
    assert rec.fetch_state == "dead" and rec.attempts == 4 and "404" in (rec.last_error or "")
    assert "recording_dead" in _events(papp)
    # The report is not lost: it is routed on what it has, and an admin sees the dead letter.
    assert _report(papp).routed_at is not None
    runner = papp.test_cli_runner()
    listed = runner.invoke(args=["reports", "dead"])
    assert rec.recording_sid in listed.output
    fake_twilio.clear_faults()
    result = runner.invoke(args=["reports", "retry", rec.recording_sid])
    assert result.exit_code == 0, result.output
    run_jobs(papp)
    [rec] = _recordings(papp)
    assert rec.fetch_state == "stored"


def test_a_recording_url_on_another_host_is_never_fetched(papp: Flask, place_call: Any, fake_twilio: Any) -> None:
    from tests.conftest import AUTH_TOKEN, SAFE_SCHOOLS, TwilioClient
    from tests.voice.driver import VoiceCall, sid

    call = VoiceCall(TwilioClient(papp.test_client(), AUTH_TOKEN), SAFE_SCHOOLS)
    call.start()
    call.press("1")
    doc = call.press("1")
    callback = doc.first("Record").attrib["recordingStatusCallback"]
    rec_sid = sid("RE")
    evil = f"http://169.254.169.254/2010-04-01/Accounts/{fake_twilio.account_sid}/Recordings/{rec_sid}"
    assert call.recording_status(callback, rec_sid, evil, 10) == 204
    run_jobs(papp)
    [rec] = _recordings(papp)
    assert rec.fetch_state == "refused" and "not the Twilio API host" in (rec.last_error or "")
    assert "recording_refused" in _events(papp)


def test_export_shows_each_stage_transcripts_and_routes_and_is_audited(papp: Flask, place_call: Any) -> None:
    from hotline.auth.models import AuditEntry

    place_call("u01.wav", "u11.wav", topic="6", district="3")
    run_jobs(papp)
    result = papp.test_cli_runner().invoke(args=["reports", "export", "--format", "jsonl"])
    assert result.exit_code == 0, result.output
    [line] = [x for x in result.output.splitlines() if x.startswith("{")]
    import json

    report = json.loads(line)
    questions = report["questions"]
    assert [q["pipeline"] for q in questions] == ["stored", "stored"]
    assert all(q["stored_at"] and q["deleted_from_twilio"] for q in questions)
    assert [q["transcript_state"] for q in questions] == ["done", "done"]
    # The transcript is decrypted for the export: u01 says there is a gun.
    assert "gun" in questions[0]["transcript"].lower()
    routes = {r["agency"]: r for r in report["routes"]}
    assert sorted(routes) == ["precinct_2_central", "riverbend_sd", "safe_schools_unit"]
    assert all(r["notices_sent"] == 1 and r["acknowledged_at"] is None for r in routes.values())
    assert report["routed_at"] is not None

    quiet = papp.test_cli_runner().invoke(args=["reports", "export", "--no-transcripts"])
    assert quiet.exit_code == 0 and 'transcript"' not in quiet.output.replace("transcript_state", "")
    with papp.app_context():
        exports = list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == "reports.export")))
    assert [(e.detail["reports"], e.detail["transcripts"]) for e in exports] == [(1, True), (1, False)]
