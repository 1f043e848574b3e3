"""The backstop: every recording Twilio made reaches a report, whatever our side lost.

Twilio's REST API is played by FakeTwilio, which serves the Recordings list and the Call
resource as Twilio documents them; the reconciler reads them through the one adapter.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, text, update

from hotline.extensions import db, queues
from hotline.jobs.recover import recover_recordings
from hotline.models import Base, Call, Event, Recording, Report
from hotline.twilio_api import ForbiddenUrl, TwilioApi
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, PREA, SAFE_SCHOOLS
from tests.pipeline.conftest import UTTERANCES, run_jobs
from tests.voice.driver import CALLER, sid
from workers.sweeps import sweep

WAV = (UTTERANCES / "u03.wav").read_bytes()


def _lost_call(fake: Any, to: str = SAFE_SCHOOLS, *, recordings: int = 1, status: str = "completed") -> list[str]:
    """A call Twilio recorded but the database never saw (it was down over the whole call)."""
    call_sid = sid("CA")
    fake.add_call(call_sid, to, CALLER, status)
    sids = [sid("RE") for _ in range(recordings)]
    for recording_sid in sids:
        fake.add_recording(ACCOUNT_SID, recording_sid, WAV, call_sid=call_sid)
    fake.backdate(600)  # older than the grace the reconciler leaves to callbacks
    return sids


def _caller_number_anywhere(app: Flask) -> bool:
    """Whether the caller's number is in any cell of any table."""
    digits = CALLER.lstrip("+")
    with app.app_context():
        for table in Base.metadata.sorted_tables:
            for row in db.session.execute(select(table)):
                if any(digits in str(value) for value in row):
                    return True
    return False


def test_the_adapter_pages_through_the_recordings_list(fake_twilio: Any) -> None:
    api = TwilioApi(fake_twilio.base_url, ACCOUNT_SID, AUTH_TOKEN)
    call_sid = sid("CA")
    sids = {sid("RE") for _ in range(5)}
    for recording_sid in sids:
        fake_twilio.add_recording(ACCOUNT_SID, recording_sid, WAV, call_sid=call_sid)
    old = sid("RE")
    fake_twilio.add_recording(
        ACCOUNT_SID, old, WAV, call_sid=call_sid, created_at=datetime.now(UTC) - timedelta(days=30)
    )
    listed = list(api.list_recordings(date.today() - timedelta(days=7), page_size=2))
    assert {r.sid for r in listed} == sids  # three pages, and the 30-day-old one filtered out
    assert all(r.call_sid == call_sid and r.status == "completed" and r.duration for r in listed)
    assert listed[0].media_url == f"{fake_twilio.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{listed[0].sid}"
    pages = [p for m, p in fake_twilio.requests_log if p.endswith("/Recordings.json")]
    assert len(pages) == 3


def test_the_adapter_reads_only_the_dialled_number_of_a_call(fake_twilio: Any) -> None:
    api = TwilioApi(fake_twilio.base_url, ACCOUNT_SID, AUTH_TOKEN)
    call_sid = sid("CA")
    fake_twilio.add_call(call_sid, PREA, CALLER, "completed")
    call = api.fetch_call(call_sid)
    assert call is not None and call.to == PREA and call.status == "completed"
    assert CALLER not in repr(call)
    assert api.fetch_call(sid("CA")) is None


def test_a_next_page_on_another_host_is_refused(fake_twilio: Any) -> None:
    api = TwilioApi(fake_twilio.base_url, ACCOUNT_SID, AUTH_TOKEN)
    with pytest.raises(ForbiddenUrl):
        api._api_url("https://evil.example/2010-04-01/Accounts/x/Recordings.json")


def test_a_call_the_database_never_saw_becomes_a_routed_report(papp: Flask, fake_twilio: Any) -> None:
    sids = _lost_call(fake_twilio, PREA, recordings=2)
    with papp.app_context():
        found = recover_recordings(force=True)
    assert (found.adopted, found.completed, found.foreign) == (2, 0, 0)
    run_jobs(papp)
    with papp.app_context():
        report = db.session.scalars(select(Report)).one()
        recs = db.session.scalars(select(Recording).order_by(Recording.id)).all()
        assert report.hotline_id == "prea" and report.call_ended_at is not None and report.routed_at is not None
        assert {r.recording_sid for r in recs} == set(sids)
        assert all(r.fetch_state == "stored" and r.deleted_from_twilio for r in recs)
        kinds = list(db.session.scalars(select(Event.kind).where(Event.report_id == report.id)))
        assert "recovered_call" in kinds and kinds.count("recording_recovered") == 2
    # Deleted at Twilio only once stored; a second pass finds nothing left to adopt.
    assert not any(fake_twilio.has_recording(s) for s in sids)
    with papp.app_context():
        again = recover_recordings(force=True)
    assert again.changed == 0
    assert not _caller_number_anywhere(papp)


def test_a_second_pass_before_the_jobs_ran_adds_nothing(papp: Flask, fake_twilio: Any) -> None:
    _lost_call(fake_twilio)
    with papp.app_context():
        assert recover_recordings(force=True).adopted == 1
        assert recover_recordings(force=True).changed == 0
        assert db.session.scalar(select(text("count(*)")).select_from(Report)) == 1
        assert db.session.scalar(select(text("count(*)")).select_from(Recording)) == 1


def test_recordings_of_other_numbers_and_young_ones_are_left_alone(papp: Flask, fake_twilio: Any) -> None:
    foreign = _lost_call(fake_twilio, "+13145550999")
    young_call = sid("CA")
    fake_twilio.add_call(young_call, SAFE_SCHOOLS, CALLER, "in-progress")
    young = sid("RE")
    fake_twilio.add_recording(ACCOUNT_SID, young, WAV, call_sid=young_call)  # its callback may still come
    with papp.app_context():
        found = recover_recordings(force=True)
        assert (found.adopted, found.foreign) == (0, 1)
        assert db.session.scalars(select(Report)).first() is None
    run_jobs(papp)
    assert fake_twilio.has_recording(foreign[0]) and fake_twilio.has_recording(young)


def test_the_sweep_runs_the_reconciler(papp: Flask, fake_twilio: Any) -> None:
    _lost_call(fake_twilio)
    with papp.app_context():
        assert sweep()["enqueued"] >= 1
    run_jobs(papp)
    with papp.app_context():
        rec = db.session.scalars(select(Recording)).one()
        assert rec.fetch_state == "stored"


def test_twilio_down_leaves_the_sweep_working(papp: Flask, fake_twilio: Any) -> None:
    _lost_call(fake_twilio)
    fake_twilio.fail_next("/Recordings.json", times=10, status=503)
    with papp.app_context():
        sweep()  # logs, does not raise
        assert db.session.scalars(select(Report)).first() is None
    fake_twilio.clear_faults()
    with papp.app_context():
        assert recover_recordings(force=True).adopted == 1


def test_a_recording_whose_callback_never_came_is_fetched(papp: Flask, place_call: Any, fake_twilio: Any) -> None:
    """The <Record> action gave the URL; the completed callback was lost for good."""
    call = place_call("u03.wav", hang_up=False)
    with papp.app_context():
        # Make the callback lost: the row goes back to what the action alone left, and the
        # fetch job it queued never existed.
        db.session.execute(update(Recording).values(status="in-progress", fetch_state="waiting"))
        db.session.commit()
        queues.redis.flushdb()
    call.hang_up()
    run_jobs(papp)
    with papp.app_context():
        assert db.session.scalars(select(Recording)).one().fetch_state == "waiting"
        # Within the grace nothing happens; after it, the sweep completes and fetches it.
        assert recover_recordings().completed == 0
        old = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=5)
        db.session.execute(update(Recording).values(created_at=old))
        db.session.commit()
        assert recover_recordings().completed == 1
    run_jobs(papp)
    with papp.app_context():
        rec = db.session.scalars(select(Recording)).one()
        assert rec.status == "completed" and rec.fetch_state == "stored" and rec.transcript_state == "done"
        kinds = list(db.session.scalars(select(Event.kind)))
        assert kinds.count("recording_callback_missed") == 1
    # The late callback, should it arrive after all, changes nothing.
    assert call.recording_status(PUBLIC_RECORDING_CALLBACK, rec.recording_sid, rec.media_url or "", 7) == 204
    with papp.app_context():
        assert list(db.session.scalars(select(Event.kind))).count("recording_completed") == 1


PUBLIC_RECORDING_CALLBACK = "https://hotline.test/voice/recording/safe_schools/message"


def test_the_reconciler_completes_a_known_recording_twilio_says_is_done(
    papp: Flask, place_call: Any, fake_twilio: Any
) -> None:
    call = place_call("u03.wav", hang_up=False)
    with papp.app_context():
        db.session.execute(update(Recording).values(status="in-progress", fetch_state="waiting", media_url=None))
        db.session.commit()
        queues.redis.flushdb()
        rec_sid = db.session.scalars(select(Recording.recording_sid)).one()
        call_sid = db.session.scalars(select(Call.call_sid)).one()
    fake_twilio.add_call(call_sid, SAFE_SCHOOLS, CALLER, "completed")
    fake_twilio.add_recording(ACCOUNT_SID, rec_sid, WAV, call_sid=call_sid)
    fake_twilio.backdate(600)
    call.hang_up()
    with papp.app_context():
        found = recover_recordings(force=True)
        assert (found.adopted, found.completed) == (0, 1)
    run_jobs(papp)
    with papp.app_context():
        rec = db.session.scalars(select(Recording)).one()
        assert rec.fetch_state == "stored" and rec.question != "recovered"
