"""Attack: the recordings a caller adds on a call back reach the app after the call's final
status (a caller hanging up mid-recording: Twilio sends the <Record> action and the call's
status at once; or the database was locked when the action came, and only the recording's
status callback, retried, gets through). The information must still be announced, once."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from hotline.extensions import db
from hotline.models import Recording, Report
from tests.conftest import SAFE_SCHOOLS, TwilioClient
from tests.voice.driver import VoiceCall
from tests.voice.test_callback import dial_in, kinds, make_report, report_count


def _added(app: Flask, rid: int) -> tuple[list[tuple[int, str]], int, bool]:
    with app.app_context():
        recs = [(r.report_id, r.question) for r in db.session.scalars(select(Recording))]
        report = db.session.get(Report, rid)
        assert report is not None
        return recs, kinds(app, rid).count("information_added"), report.tipster_added_at is not None


def test_recording_action_after_the_final_status_is_announced_once(app: Flask, twilio: TwilioClient) -> None:
    rid = make_report(app, notes=(("en", "Hello."),))
    call = VoiceCall(twilio, SAFE_SCHOOLS, skip_offer=False)
    dial_in(call)
    assert call.press("1").has("Record")
    driver = call.driver
    assert call.hang_up() == 204  # the call's status overtakes the <Record> action
    assert driver.answer("hangup").status == 200  # the action, then its status callback
    assert driver.callback_reply.status == 204
    assert call.hang_up() == 204  # and Twilio repeats the final status
    assert _added(app, rid) == ([(rid, "added_1")], 1, True)
    assert report_count(app) == 1


def test_only_the_status_callback_of_an_added_recording_comes_after_the_end(app: Flask, twilio: TwilioClient) -> None:
    rid = make_report(app, notes=(("en", "Hello."),))
    call = VoiceCall(twilio, SAFE_SCHOOLS, skip_offer=False)
    dial_in(call)
    doc = call.press("1")
    record = doc.first("Record")
    assert call.hang_up() == 204  # the action was lost (a locked database answered it)
    url = "http://127.0.0.1:9/2010-04-01/Accounts/AC/Recordings/RE" + "a" * 32
    for _ in range(2):  # Twilio retries a callback it thinks failed
        status = call.recording_status(record.attrib["recordingStatusCallback"], "RE" + "a" * 32, url, 9)
        assert status == 204
    assert _added(app, rid) == ([(rid, "added_1")], 1, True)


def test_an_action_before_the_end_and_its_callback_after_are_announced_once(app: Flask, twilio: TwilioClient) -> None:
    rid = make_report(app)
    call = VoiceCall(twilio, SAFE_SCHOOLS, skip_offer=False)
    dial_in(call)
    record = call.press("1").first("Record")
    driver = call.driver
    driver.answer("#", callback=False)
    assert call.hang_up() == 204
    sid = driver.recordings[-1]
    assert call.recording_status(record.attrib["recordingStatusCallback"], sid, "http://127.0.0.1:9/r", 7) == 204
    assert _added(app, rid) == ([(rid, "added_1")], 1, True)
