"""Escalation until acknowledged, legal hold and retention, key rotation, queue priority."""

from __future__ import annotations

import base64
import dataclasses
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from rq import Queue
from sqlalchemy import select, update

from hotline import create_app
from hotline.crypto.envelope import MasterKeyRing
from hotline.extensions import db, runtime
from hotline.models import Assignment, Event, Notification, Recording, Report, utcnow
from hotline.pipeline.services import services_for
from hotline.storage.base import BlobNotFound
from tests.conftest import AUTH_TOKEN, PREA, RedisServer, TwilioClient
from tests.pipeline.conftest import UTTERANCES, run_jobs
from tests.voice.driver import VoiceCall
from workers.sweeps import sweep


def _overdue(app: Flask) -> None:
    with app.app_context():
        db.session.execute(update(Assignment).values(due_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()


def _levels(app: Flask) -> dict[str, int]:
    with app.app_context():
        return {a.agency_id: a.level for a in db.session.scalars(select(Assignment))}


def test_unacknowledged_reports_escalate_until_acknowledged(papp: Flask, place_call: Any) -> None:
    place_call("u11.wav", topic="1")  # weapons: critical, 5-minute deadline
    run_jobs(papp)
    with papp.app_context():
        due = db.session.scalars(select(Assignment.due_at)).first()
        report = db.session.scalars(select(Report)).one()
        assert report.urgency == "critical"
        assert due is not None and timedelta(seconds=290) < due - report.routed_at < timedelta(seconds=310)  # type: ignore[operator]
    with papp.app_context():
        assert sweep() == {"enqueued": 0, "escalated": 0, "shredded": 0}  # nothing is due yet
    _overdue(papp)
    with papp.app_context():
        assert sweep()["escalated"] == 3
    run_jobs(papp)
    assert set(_levels(papp).values()) == {1}
    with papp.app_context():
        level1 = list(db.session.scalars(select(Notification).where(Notification.level == 1)))
        # The next contact and the on-call dispatcher (county dispatch) are told.
        assert "+13146150900" in {n.target for n in level1} and all(n.status == "sent" for n in level1)
    _overdue(papp)
    with papp.app_context():
        sweep()
    run_jobs(papp)
    assert set(_levels(papp).values()) == {2}

    result = papp.test_cli_runner().invoke(args=["reports", "ack", report.reference, "--user", "det.smith"])
    assert result.exit_code == 0 and "3 assignment(s) acknowledged" in result.output
    _overdue(papp)
    with papp.app_context():
        assert sweep()["escalated"] == 0
        report = db.session.scalars(select(Report)).one()
        assert report.status == "acknowledged"
        kinds = list(db.session.scalars(select(Event.kind)))
    assert kinds.count("escalated") == 6 and "acknowledged" in kinds
    assert set(_levels(papp).values()) == {2}


def test_ack_rejects_an_unknown_report(papp: Flask) -> None:
    result = papp.test_cli_runner().invoke(args=["reports", "ack", "R-2026-99999", "--user", "x"])
    assert result.exit_code != 0 and "no report R-2026-99999" in result.output


def test_retention_shreds_old_recordings_unless_on_legal_hold(papp: Flask, place_call: Any) -> None:
    place_call("u12.wav")
    place_call("u13.wav")
    run_jobs(papp)
    with papp.app_context():
        reports = db.session.scalars(select(Report).order_by(Report.id)).all()
        reports[1].legal_hold = True
        for report in reports:
            _age(report, days=400)
        db.session.commit()
        assert sweep()["shredded"] == 1
        store = services_for(runtime.get(papp).settings).store
        shredded, held = db.session.scalars(select(Recording).order_by(Recording.id)).all()
        assert shredded.shredded_at is not None and held.shredded_at is None
        with pytest.raises(BlobNotFound):
            store.get_decrypted(shredded.blob_key, f"recording:{shredded.recording_sid}".encode())
        assert store.get_decrypted(held.blob_key, f"recording:{held.recording_sid}".encode())[:4] == b"RIFF"
        assert sweep()["shredded"] == 0  # done once


def _age(report: Report, days: int) -> None:
    """Make a report `days` older, as if that much time had passed since the call."""
    assert report.retain_until is not None
    report.created_at -= timedelta(days=days)
    report.retain_until -= timedelta(days=days)


def place_prea_call(papp: Flask, fake_twilio: Any, clip: str) -> VoiceCall:
    """A PREA call: an inmate's anonymous report, one recorded answer, then hang up."""
    call = VoiceCall(TwilioClient(papp.test_client(), AUTH_TOKEN), PREA, media_base=fake_twilio.base_url)
    call.on_record = lambda sid: fake_twilio.add_recording(
        fake_twilio.account_sid, sid, (UTTERANCES / clip).read_bytes()
    )
    call.start()
    call.press("1")  # English
    call.press("1")  # in custody
    call.press("1")  # anonymous
    call.answer("#")  # who did it
    call.hang_up()
    return call


def _stored(papp: Flask, recording: Recording) -> bool:
    store = services_for(runtime.get(papp).settings).store
    try:
        return store.get_decrypted(recording.blob_key, f"recording:{recording.recording_sid}".encode())[:4] == b"RIFF"  # type: ignore[arg-type]
    except BlobNotFound:
        return False


def test_prea_recordings_outlive_the_safe_schools_retention(papp: Flask, place_call: Any, fake_twilio: Any) -> None:
    """28 CFR 115.89: a PREA report is kept ten years, whatever other hotlines keep."""
    place_call("u12.wav")
    place_prea_call(papp, fake_twilio, "u13.wav")
    run_jobs(papp)
    with papp.app_context():
        school, prea = db.session.scalars(select(Report).order_by(Report.id)).all()
        assert (school.hotline_id, prea.hotline_id) == ("safe_schools", "prea")
        # Stamped at creation from each hotline's retention.
        assert school.retain_until - school.created_at == timedelta(days=365)  # type: ignore[operator]
        assert prea.retain_until - prea.created_at == timedelta(days=3653)  # type: ignore[operator]
        _age(school, days=400)  # past Safe Schools' year
        _age(prea, days=730)  # two years old: the global year would have destroyed it
        db.session.commit()
        assert sweep()["shredded"] == 1
        by_hotline = {
            hotline: rec
            for rec, hotline in db.session.execute(
                select(Recording, Report.hotline_id).join(Report, Report.id == Recording.report_id)
            )
        }
        assert by_hotline["safe_schools"].shredded_at is not None and not _stored(papp, by_hotline["safe_schools"])
        assert by_hotline["prea"].shredded_at is None and _stored(papp, by_hotline["prea"])


def _with_school_retention(papp: Flask, days: int) -> None:
    rt = runtime.get(papp)
    hotlines = [
        h.model_copy(update={"retention_days": days}) if h.id == "safe_schools" else h for h in rt.settings.hotlines
    ]
    papp.extensions["hotline"] = dataclasses.replace(rt, settings=rt.settings.model_copy(update={"hotlines": hotlines}))


def test_a_report_is_kept_until_both_its_own_and_its_hotlines_retention_have_passed(
    papp: Flask, place_call: Any
) -> None:
    place_call("u12.wav")  # stamped with Safe Schools' 365 days
    run_jobs(papp)
    with papp.app_context():
        report = db.session.scalars(select(Report)).one()
        _age(report, days=200)
        db.session.commit()
    _with_school_retention(papp, 30)  # lowered since: the report keeps what it was promised
    with papp.app_context():
        assert sweep()["shredded"] == 0
        _age(db.session.scalars(select(Report)).one(), days=200)  # 400 days old
        db.session.commit()
    _with_school_retention(papp, 730)  # raised since: old reports are kept longer too
    with papp.app_context():
        assert sweep()["shredded"] == 0
    _with_school_retention(papp, 30)
    with papp.app_context():
        assert sweep()["shredded"] == 1


def test_keys_rotate_rewraps_without_touching_audio(papp: Flask, place_call: Any, tmp_path: Path) -> None:
    place_call("u01.wav")
    run_jobs(papp)
    settings = runtime.get(papp).settings
    storage = Path(settings.storage_path)
    with papp.app_context():
        rec = db.session.scalars(select(Recording)).one()
    payload_before = (storage / rec.blob_key).read_bytes()  # type: ignore[operator]
    new_key = os.urandom(32)
    rotated = settings.model_copy(update={"master_key": new_key, "old_master_keys": [settings.master_key]})
    result = create_app(rotated).test_cli_runner().invoke(args=["keys", "rotate"])
    assert result.exit_code == 0, result.output
    assert "re-wrapped 2 data key(s)" in result.output  # the audio and its transcript
    assert (storage / rec.blob_key).read_bytes() == payload_before  # type: ignore[operator]
    from hotline.storage.encrypted import EncryptedStore
    from hotline.storage.local import LocalBlobStore

    only_new = EncryptedStore(LocalBlobStore(storage), MasterKeyRing(new_key))
    assert only_new.get_decrypted(rec.blob_key, f"recording:{rec.recording_sid}".encode())[:4] == b"RIFF"
    assert base64.b64encode(new_key).decode() not in result.output


def test_critical_recordings_jump_the_queue(papp: Flask, place_call: Any, redis_server: RedisServer) -> None:
    place_call("u11.wav", topic="6", hang_up=False)
    place_call("u01.wav", topic="1", hang_up=False)
    conn = redis.Redis.from_url(redis_server.url)
    assert len(Queue("recordings", connection=conn).job_ids) == 1
    assert len(Queue("critical", connection=conn).job_ids) == 1


def test_an_unanswered_transfer_alerts_the_on_call_dispatcher(
    papp: Flask, fake_twilio: Any, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from tests.conftest import AUTH_TOKEN, SAFE_SCHOOLS, TwilioClient
    from tests.voice.driver import VoiceCall

    caplog.set_level(logging.INFO)
    call = VoiceCall(TwilioClient(papp.test_client(), AUTH_TOKEN), SAFE_SCHOOLS)
    call.start()
    call.press("0")
    call.dial_result("no-answer")
    run_jobs(papp)
    with papp.app_context():
        report = db.session.scalars(select(Report)).one()
        kinds = list(db.session.scalars(select(Event.kind)))
    assert "on_call_alerted" in kinds
    assert (
        "notify +13146150900: A Safe Schools hotline caller asked for a dispatcher and nobody answered. "
        f"Report {report.reference}." in caplog.text
    )
