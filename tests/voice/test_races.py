"""Twin requests for one recording, interleaved deterministically at the database.

The <Record> action and the recordingStatusCallback for one RecordingSid arrive together.
To make one request lose the race every time, a cursor hook waits until request A has
looked for the recording row (and found none), then runs request B to completion in
another thread before A goes on to insert.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis
from flask import Flask
from rq import Queue
from sqlalchemy import event, select

from hotline.extensions import db
from hotline.models import Event, Recording
from tests.conftest import SAFE_SCHOOLS, RedisServer, TwilioClient
from tests.voice.driver import VoiceCall, sid

ACCOUNT = "AC" + "1" * 32


@contextmanager
def after_lookup_of(recording_sid: str, competitor: Callable[[], Any]) -> Iterator[list[Any]]:
    """Run `competitor` in a thread, once, right after the first SELECT of this recording."""
    fired: list[Any] = []

    def hook(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if fired or not statement.lstrip().upper().startswith("SELECT"):
            return
        if "recordings" not in statement or recording_sid not in str(parameters):
            return
        fired.append("started")  # before the thread: its own lookup must not fire again
        errors: list[BaseException] = []

        def run() -> None:
            try:
                fired.append(competitor())
            except BaseException as exc:  # re-raised in the test's thread
                errors.append(exc)

        thread = threading.Thread(target=run)
        thread.start()
        thread.join(timeout=30)
        assert not thread.is_alive(), "the competing request did not finish"
        if errors:
            raise errors[0]

    event.listen(db.engine, "after_cursor_execute", hook)
    try:
        yield fired
    finally:
        event.remove(db.engine, "after_cursor_execute", hook)
    assert len(fired) == 2, "the race was not staged"


def at_first_question(twilio: TwilioClient) -> tuple[VoiceCall, str, str]:
    call = VoiceCall(twilio, SAFE_SCHOOLS)
    call.start()
    call.press("1")
    doc = call.press("6")  # "other": normal urgency, so the fetch goes to the recordings queue
    record = doc.first("Record")
    return call, record.attrib["action"], record.attrib["recordingStatusCallback"]


def callback_params(call: VoiceCall, recording_sid: str, status: str = "completed") -> dict[str, str]:
    return {
        "AccountSid": ACCOUNT,
        "CallSid": call.call_sid,
        "RecordingSid": recording_sid,
        "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Recordings/{recording_sid}",
        "RecordingStatus": status,
        "RecordingDuration": "9",
        "RecordingChannels": "1",
        "RecordingSource": "RecordVerb",
    }


def action_extra(call: VoiceCall, recording_sid: str) -> dict[str, str]:
    """What a <Record> action adds to the call's parameters."""
    url = callback_params(call, recording_sid)["RecordingUrl"]
    return {"RecordingSid": recording_sid, "RecordingUrl": url, "RecordingDuration": "9", "Digits": "#"}


def assert_fetched_once(app: Flask, redis_server: RedisServer, recording_sid: str) -> None:
    with app.app_context():
        rec = db.session.scalars(select(Recording)).one()
        assert (rec.recording_sid, rec.status, rec.fetch_state, rec.duration) == (
            recording_sid,
            "completed",
            "pending",
            9,
        )
        kinds = list(db.session.scalars(select(Event.kind)))
    assert kinds.count("recording_completed") == 1 and kinds.count("answer_recorded") == 1
    queue = Queue("recordings", connection=redis.Redis.from_url(redis_server.url))
    assert queue.job_ids == [f"fetch-{recording_sid}"]


def test_status_callback_losing_the_insert_race_still_completes_and_enqueues(
    app: Flask, twilio: TwilioClient, redis_server: RedisServer
) -> None:
    call, action, callback = at_first_question(twilio)
    rec_sid = sid("RE")
    other = TwilioClient(app.test_client())

    def record_action() -> int:
        response = other.post(action, {**call.base(), **action_extra(call, rec_sid)})
        assert response.status_code == 200 and b"Where" in response.data
        return response.status_code

    with after_lookup_of(rec_sid, record_action):
        response = twilio.post(callback, callback_params(call, rec_sid))
    assert response.status_code == 204
    assert_fetched_once(app, redis_server, rec_sid)


def test_record_action_losing_the_insert_race_still_answers_the_flow(
    app: Flask, twilio: TwilioClient, redis_server: RedisServer
) -> None:
    if db.engine.dialect.name == "sqlite":
        # SQLite: the action has already written the call's state, so it holds the write lock
        # and the callback cannot insert first; this interleaving only exists on PostgreSQL.
        pytest.skip("needs concurrent writers (PostgreSQL)")
    call, action, callback = at_first_question(twilio)
    rec_sid = sid("RE")
    other = TwilioClient(app.test_client())

    def status_callback() -> int:
        status = other.post(callback, callback_params(call, rec_sid)).status_code
        assert status == 204
        return status

    with after_lookup_of(rec_sid, status_callback):
        doc = call.post(action, action_extra(call, rec_sid))
    assert "Where" in doc.text() and "technical problem" not in doc.text()
    assert_fetched_once(app, redis_server, rec_sid)


def test_two_concurrent_completed_callbacks_act_once(
    app: Flask, twilio: TwilioClient, redis_server: RedisServer
) -> None:
    call, action, callback = at_first_question(twilio)
    rec_sid = sid("RE")
    call.post(action, action_extra(call, rec_sid))  # the row exists, still in progress
    other = TwilioClient(app.test_client())

    def twin() -> int:
        status = other.post(callback, callback_params(call, rec_sid)).status_code
        assert status == 204
        return status

    # The first callback has read the row (not yet completed) when its twin completes it.
    with after_lookup_of(rec_sid, twin):
        assert twilio.post(callback, callback_params(call, rec_sid)).status_code == 204
    assert_fetched_once(app, redis_server, rec_sid)
