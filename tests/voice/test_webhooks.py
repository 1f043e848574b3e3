"""Webhook guarantees: signatures, idempotency, order, privacy, and never an application error."""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from flask import Flask
from rq import Queue
from sqlalchemy import func, select, text

from hotline import create_app
from hotline.extensions import db
from hotline.models import Base, Call, Event, Recording, Report
from tests.conftest import (
    AUTH_TOKEN,
    PUBLIC_URL,
    SAFE_SCHOOLS,
    RedisServer,
    TwilioClient,
    free_port,
    make_settings,
)
from tests.voice.driver import CALLER, VoiceCall, sid


def count(app: Flask, model: type[Base]) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(model)) or 0)


def test_unsigned_and_forged_requests_are_refused(app: Flask, twilio: TwilioClient) -> None:
    call = VoiceCall(twilio, SAFE_SCHOOLS)
    params = {**call.base(), "CallStatus": "ringing"}
    assert twilio.post("/voice/incoming", params, sign=False).status_code == 403
    assert twilio.post("/voice/incoming", params, signature="bm90IGEgc2lnbmF0dXJl").status_code == 403
    wrong_url = TwilioClient(twilio.client).validator.compute_signature("https://elsewhere.test/voice/incoming", params)
    assert twilio.post("/voice/incoming", params, signature=wrong_url).status_code == 403
    other_token = TwilioClient(twilio.client, token="f" * 32)
    assert other_token.post("/voice/incoming", params).status_code == 403
    for path in (
        "/voice/status",
        "/voice/fallback",
        "/voice/input/1",
        "/voice/dial/1",
        "/voice/recording/safe_schools/problem",
        "/voice/whisper/safe_schools",
    ):
        assert twilio.post(path, params, sign=False).status_code == 403
    assert count(app, Report) == 0


def test_a_tampered_parameter_breaks_the_signature(app: Flask, twilio: TwilioClient) -> None:
    call = VoiceCall(twilio, SAFE_SCHOOLS)
    params = {**call.base(), "CallStatus": "ringing"}
    signature = twilio.validator.compute_signature(PUBLIC_URL + "/voice/incoming", params)
    params["To"] = "+13146155055"
    assert twilio.post("/voice/incoming", params, signature=signature).status_code == 403


def test_get_is_not_allowed(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/voice/incoming").status_code == 405


def test_malformed_requests_get_4xx_never_500(app: Flask, twilio: TwilioClient) -> None:
    assert twilio.post("/voice/incoming", {"To": SAFE_SCHOOLS}).status_code == 400
    assert twilio.post("/voice/incoming", {"To": SAFE_SCHOOLS, "CallSid": "x' OR 1=1"}).status_code == 400
    assert twilio.post("/voice/recording/nowhere/problem", {"CallSid": sid("CA")}).status_code == 404
    bad_status = {"CallSid": sid("CA"), "RecordingSid": sid("RE"), "RecordingStatus": "exploded"}
    assert twilio.post("/voice/recording/safe_schools/problem", bad_status).status_code == 400
    assert twilio.post("/voice/recording/safe_schools/problem", {"CallSid": sid("CA")}).status_code == 400
    assert twilio.post("/voice/input/notanumber", {"CallSid": sid("CA")}).status_code == 404


@pytest.mark.parametrize("digits", ["1" * 5000, "abc", "<Say>hi</Say>", "1;DROP TABLE calls"])
def test_absurd_digits_are_an_invalid_key(app: Flask, twilio: TwilioClient, digits: str) -> None:
    call = VoiceCall(twilio, SAFE_SCHOOLS)
    call.start()
    call.press("1")
    doc = call.press(digits)
    assert "not one of the choices" in doc.text()


def test_an_unknown_number_hears_it_is_not_in_service(app: Flask, twilio: TwilioClient) -> None:
    doc = VoiceCall(twilio, "+15550001111").start()
    assert "not a hotline in service" in doc.text() and "9 1 1" in doc.text()
    assert count(app, Report) == 0


def test_unknown_call_gets_safe_twiml(app: Flask, twilio: TwilioClient) -> None:
    call = VoiceCall(twilio, SAFE_SCHOOLS)
    doc = call.post("/voice/input/3", {"Digits": "1"})
    assert "9 1 1" in doc.text() and doc.has("Record")


def test_repeated_incoming_creates_one_report(app: Flask, twilio: TwilioClient) -> None:
    call = VoiceCall(twilio, SAFE_SCHOOLS)
    first = call.start()
    second = call.start()
    assert ET.tostring(first.root) == ET.tostring(second.root)
    assert count(app, Report) == 1 and count(app, Call) == 1


def test_a_repeated_action_changes_nothing_twice(app: Flask, twilio: TwilioClient) -> None:
    call = VoiceCall(twilio, SAFE_SCHOOLS, skip_offer=False)
    call.start()
    action = call.doc.first("Gather").attrib["action"]  # type: ignore[union-attr]
    after = call.press("1")
    events_before = count(app, Event)
    again = call.post(action, {"Digits": "2"})  # Twilio retries the old request, late
    assert ET.tostring(after.root) == ET.tostring(again.root)
    assert count(app, Event) == events_before
    with app.app_context():
        assert db.session.scalars(select(Report)).one().language == "en"


def test_callbacks_twice_and_out_of_order(app: Flask, twilio: TwilioClient, redis_server: RedisServer) -> None:
    call = VoiceCall(twilio, SAFE_SCHOOLS)
    call.start()
    call.press("1")
    doc = call.press("2")
    record = doc.first("Record")
    rec_sid = sid("RE")
    url = f"https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/{rec_sid}"
    callback = record.attrib["recordingStatusCallback"]
    # The status callback arrives first, twice, then the call ends, then the <Record> action.
    assert call.recording_status(callback, rec_sid, url, 12) == 204
    assert call.recording_status(callback, rec_sid, url, 12) == 204
    assert call.hang_up() == 204
    assert call.hang_up() == 204
    call.post(
        record.attrib["action"],
        {"RecordingSid": rec_sid, "RecordingUrl": url, "RecordingDuration": "12", "Digits": "hangup"},
    )
    with app.app_context():
        rec = db.session.scalars(select(Recording)).one()
        assert (rec.question, rec.status, rec.duration, rec.fetch_state) == (
            "problem",
            "completed",
            12,
            "pending",
        )
        kinds = list(db.session.scalars(select(Event.kind)))
    assert kinds.count("recording_completed") == 1 and kinds.count("call_ended") == 1
    queue = Queue("recordings", connection=redis.Redis.from_url(redis_server.url))
    assert queue.job_ids == [f"fetch-{rec_sid}"]
    job = queue.fetch_job(f"fetch-{rec_sid}")
    assert job is not None and job.args == (rec_sid,)


def test_absent_and_failed_recordings_are_noted(app: Flask, twilio: TwilioClient) -> None:
    call = VoiceCall(twilio, SAFE_SCHOOLS)
    call.start()
    call.press("1")
    doc = call.press("2")
    callback = doc.first("Record").attrib["recordingStatusCallback"]
    assert call.recording_status(callback, sid("RE"), "", 0, status="absent") == 204
    assert call.recording_status(callback, sid("RE"), "", 0, status="failed") == 204
    assert call.recording_status(callback, sid("RE"), "", 0, status="in-progress") == 204
    with app.app_context():
        states = sorted(db.session.scalars(select(Recording.status)))
    assert states == ["absent", "failed"]


@pytest.mark.parametrize("status", ["completed", "absent", "failed"])
def test_each_recording_callback_twice_gives_one_event_and_one_job(
    app: Flask, twilio: TwilioClient, redis_server: RedisServer, status: str
) -> None:
    call = VoiceCall(twilio, SAFE_SCHOOLS)
    call.start()
    call.press("1")
    doc = call.press("6")  # "other": normal urgency, so a fetch goes to the recordings queue
    callback = doc.first("Record").attrib["recordingStatusCallback"]
    rec_sid = sid("RE")
    for _ in range(2):
        assert call.recording_status(callback, rec_sid, "https://api.twilio.com/x", 4, status=status) == 204
    with app.app_context():
        kinds = list(db.session.scalars(select(Event.kind)))
        assert db.session.scalars(select(Recording.status)).one() == status
    assert kinds.count(f"recording_{status}") == 1
    queue = Queue("recordings", connection=redis.Redis.from_url(redis_server.url))
    assert queue.job_ids == ([f"fetch-{rec_sid}"] if status == "completed" else [])


def test_a_late_failure_does_not_undo_a_completed_recording(app: Flask, twilio: TwilioClient) -> None:
    call = VoiceCall(twilio, SAFE_SCHOOLS)
    call.start()
    call.press("1")
    doc = call.press("6")
    callback = doc.first("Record").attrib["recordingStatusCallback"]
    rec_sid = sid("RE")
    assert call.recording_status(callback, rec_sid, "https://api.twilio.com/x", 4) == 204
    assert call.recording_status(callback, rec_sid, "", 0, status="failed") == 204
    with app.app_context():
        rec = db.session.scalars(select(Recording)).one()
        assert (rec.status, rec.fetch_state) == ("completed", "pending")
        kinds = list(db.session.scalars(select(Event.kind)))
    assert "recording_failed" not in kinds


def test_caller_identity_is_never_stored_or_logged(
    app: Flask, twilio: TwilioClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    call = VoiceCall(twilio, SAFE_SCHOOLS)
    call.start()
    call.press("1")
    call.press("0")
    call.dial_result("no-answer")
    call.press("1")
    call.answer("#")
    call.hang_up()
    twilio.post("/voice/incoming", {"CallSid": "bad", "From": CALLER})
    with app.app_context():
        dump = []
        for table in Base.metadata.sorted_tables:
            for row in db.session.execute(table.select()):
                dump.append(repr(tuple(row)))
    stored = "\n".join(dump)
    assert call.call_sid in stored  # the dump is real
    for secret in (CALLER, CALLER[2:], "JANE DOE", "CLAYTON", "63105"):
        assert secret not in stored
        assert secret not in caplog.text


@pytest.fixture
def broken_app(tmp_path: Path, redis_server: RedisServer) -> Iterator[Flask]:
    """An app whose database has no tables: every query inside a view fails."""
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'empty.db'}", redis_server.url)
    application = create_app(settings)
    yield application
    db.dispose()


def test_an_internal_error_still_takes_a_message(broken_app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    twilio = TwilioClient(broken_app.test_client(), AUTH_TOKEN)
    call = VoiceCall(twilio, SAFE_SCHOOLS)
    doc = call.start()
    assert "technical problem" in doc.text() and "dial 9 1 1" in doc.text()
    record = doc.first("Record")
    # Twilio retries the callback (connection overrides in the fragment) when we answer 5xx.
    callback, _, overrides = record.attrib["recordingStatusCallback"].partition("#")
    assert callback.endswith("/voice/recording/safe_schools/message") and "rc=5" in overrides
    assert doc.verbs[-1] == "Hangup"
    # What follows <Record> runs only when nothing was recorded: it must not claim a message.
    assert "received" not in " ".join(doc.says()[2:])
    assert "voice webhook failed" in caplog.text and CALLER not in caplog.text


def test_fallback_answers_without_the_database(broken_app: Flask) -> None:
    twilio = TwilioClient(broken_app.test_client(), AUTH_TOKEN)
    call = VoiceCall(twilio, SAFE_SCHOOLS)
    doc = call.post("/voice/fallback", {"ErrorCode": "11200", "ErrorUrl": PUBLIC_URL + "/voice/incoming"})
    assert "9 1 1" in doc.text() and doc.has("Record")
    salvage = call.post(
        doc.first("Record").attrib["action"],
        {"RecordingSid": sid("RE"), "RecordingUrl": "https://api.twilio.com/x", "RecordingDuration": "9"},
    )
    assert salvage.verbs[-1] == "Hangup"
    # The message could not be stored here: Twilio holds it, so "recorded", never "received".
    assert "recorded" in salvage.text() and "received" not in salvage.text()


def test_a_data_callback_that_could_not_be_stored_answers_5xx(broken_app: Flask) -> None:
    """A 200 would tell Twilio the recording was delivered; a 503 makes it retry."""
    twilio = TwilioClient(broken_app.test_client(), AUTH_TOKEN)
    call = VoiceCall(twilio, SAFE_SCHOOLS)
    url = PUBLIC_URL + "/voice/recording/safe_schools/message#rc=5&rp=5xx,ct,rt"
    assert call.recording_status(url, sid("RE"), "https://api.twilio.com/x", 30) == 503
    assert call.hang_up() == 503


def test_a_message_left_through_the_fallback_becomes_a_report(app: Flask, twilio: TwilioClient) -> None:
    call = VoiceCall(twilio, SAFE_SCHOOLS)
    doc = call.post("/voice/fallback", {"ErrorCode": "11200"})
    callback = doc.first("Record").attrib["recordingStatusCallback"]
    rec_sid = sid("RE")
    assert call.recording_status(callback, rec_sid, "https://api.twilio.com/x", 30) == 204
    with app.app_context():
        report = db.session.scalars(select(Report)).one()
        rec = db.session.scalars(select(Recording)).one()
        assert report.hotline_id == "safe_schools" and rec.question == "message"


def test_a_salvaged_message_is_stored_from_its_action_and_only_then_called_received(
    app: Flask, twilio: TwilioClient
) -> None:
    """The action carries the URL: the message is ours even if its callback never comes."""
    call = VoiceCall(twilio, SAFE_SCHOOLS)
    doc = call.post("/voice/fallback", {"ErrorCode": "11200"})
    rec_sid = sid("RE")
    thanks = call.post(
        doc.first("Record").attrib["action"],
        {"RecordingSid": rec_sid, "RecordingUrl": "https://api.twilio.com/x", "RecordingDuration": "12"},
    )
    assert "received" in thanks.text()
    with app.app_context():
        rec = db.session.scalars(select(Recording)).one()
        report = db.session.get(Report, rec.report_id)
        assert rec.recording_sid == rec_sid and rec.media_url and rec.question == "message"
        assert report is not None and report.call_ended_at is not None  # routed without waiting for a status


def test_a_salvaged_message_ends_its_call_when_the_final_status_came_first(
    app: Flask, twilio: TwilioClient, redis_server: RedisServer
) -> None:
    call = VoiceCall(twilio, SAFE_SCHOOLS)
    doc = call.post("/voice/fallback", {"ErrorCode": "11200"})
    assert doc.verbs[-1] == "Hangup"  # the salvage TwiML ends the call after the message
    callback = doc.first("Record").attrib["recordingStatusCallback"]
    assert call.hang_up() == 204  # no call row yet: this status is dropped
    rec_sid = sid("RE")
    for _ in range(2):
        assert call.recording_status(callback, rec_sid, "https://api.twilio.com/x", 30) == 204
    with app.app_context():
        row = db.session.scalars(select(Call)).one()
        report = db.session.scalars(select(Report)).one()
        assert row.ended_at is not None and row.status == "completed"
        assert report.call_ended_at == row.ended_at and report.status == "new"
        report_id = report.id
    assert call.hang_up() == 204  # a late repeat of the final status changes nothing
    with app.app_context():
        kinds = list(db.session.scalars(select(Event.kind)))
    assert kinds.count("call_ended") == 1 and kinds.count("salvaged_call") == 1
    assert kinds.count("recording_completed") == 1
    connection = redis.Redis.from_url(redis_server.url)
    assert Queue("default", connection=connection).job_ids == [f"finalize-{report_id}-call"]
    assert Queue("recordings", connection=connection).job_ids == [f"fetch-{rec_sid}"]


def test_redis_down_keeps_the_recording_pending(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, f"redis://127.0.0.1:{free_port()}/0")
    application = create_app(settings)
    try:
        twilio = TwilioClient(application.test_client(), AUTH_TOKEN)
        call = VoiceCall(twilio, SAFE_SCHOOLS)
        call.start()
        call.press("1")
        call.press("1")
        doc = call.answer("#")
        assert "Where" in doc.text()
        with application.app_context():
            rec = db.session.scalars(select(Recording)).one()
            assert rec.status == "completed" and rec.fetch_state == "pending"
    finally:
        with application.app_context():
            for table in reversed(Base.metadata.sorted_tables):
                db.session.execute(text(f"DELETE FROM {table.name}"))
            db.session.commit()
        db.dispose()
