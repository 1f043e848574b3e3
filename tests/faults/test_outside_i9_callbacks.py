"""Outside attack on the recording callback's bookkeeping, moved by issue 9 into
hotline.voice.recordings: replayed and out-of-order callbacks change nothing twice (one
event, one fetch job), a completed recording stays completed, and no webhook answers a
caller or Twilio with an HTML page."""

from __future__ import annotations

import redis
from flask import Flask
from rq import Queue
from sqlalchemy import select

from hotline.extensions import db
from hotline.models import Event, Recording
from tests.conftest import RedisServer, TwilioClient
from tests.voice.driver import sid
from tests.voice.test_races import action_extra, at_first_question, callback_params


def test_replayed_and_late_callbacks_change_nothing_twice(
    app: Flask, twilio: TwilioClient, redis_server: RedisServer
) -> None:
    call, action, callback = at_first_question(twilio)
    rec_sid = sid("RE")
    call.post(action, action_extra(call, rec_sid))
    for status in ("in-progress", "completed", "completed", "absent", "failed", "in-progress", "completed"):
        assert twilio.post(callback, callback_params(call, rec_sid, status)).status_code == 204, status
    with app.app_context():
        rec = db.session.scalars(select(Recording)).one()
        assert (rec.status, rec.fetch_state, rec.error_code) == ("completed", "pending", None)
        kinds = list(db.session.scalars(select(Event.kind).where(Event.report_id == rec.report_id)))
    assert kinds.count("recording_completed") == 1
    assert "recording_absent" not in kinds and "recording_failed" not in kinds
    assert Queue("recordings", connection=redis.Redis.from_url(redis_server.url)).job_ids == [f"fetch-{rec_sid}"]


def test_malformed_callbacks_are_plain_text_refusals_that_store_nothing(app: Flask, twilio: TwilioClient) -> None:
    call, _action, callback = at_first_question(twilio)
    rec_sid = sid("RE")
    bad = [
        {**callback_params(call, rec_sid), "RecordingStatus": "COMPLETED"},
        {**callback_params(call, rec_sid), "RecordingStatus": "completed\n"},
        {**callback_params(call, rec_sid), "RecordingSid": rec_sid.lower()},
        {**callback_params(call, rec_sid), "CallSid": "CA" + "x" * 32},
        {k: v for k, v in callback_params(call, rec_sid).items() if k != "CallSid"},
    ]
    for params in bad:
        got = twilio.post(callback, params)
        assert got.status_code == 400, params
        assert got.mimetype == "text/plain" and b"<html" not in got.data.lower(), params
    # Unsigned, or signed for other parameters: refused before anything is read.
    unsigned = twilio.post(callback, callback_params(call, rec_sid), sign=False)
    assert unsigned.status_code == 403 and unsigned.mimetype == "text/plain"
    with app.app_context():
        assert db.session.scalar(select(Recording.id).where(Recording.recording_sid == rec_sid)) is None


def test_error_answers_under_voice_are_never_html(app: Flask, twilio: TwilioClient) -> None:
    for path in ("/voice/nowhere", "/voice/recording/nowhere", "/voice/input/99999999999999999999"):
        got = twilio.post(path, {"CallSid": "CA" + "1" * 32})
        assert got.status_code in (200, 400, 403, 404), (path, got.status_code)
        assert got.mimetype in ("text/plain", "text/xml") and b"<html" not in got.data.lower(), path


def test_a_webhook_fetched_with_get_is_not_answered_with_an_html_page(app: Flask) -> None:
    # Twilio's console lets a number's webhook be set to HTTP GET by mistake.
    got = app.test_client().get("/voice/incoming?CallSid=CA" + "1" * 32)
    assert got.status_code in (403, 405), got.status_code
    assert b"<html" not in got.data.lower() and b"<!doctype" not in got.data.lower(), got.data[:200]
    assert got.mimetype == "text/plain" and "POST" in got.headers.get("Allow", "")
    # Outside the voice prefix a 405 is answered as before.
    other = app.test_client().put("/login")
    assert other.status_code == 405 and "GET" in other.headers["Allow"]
