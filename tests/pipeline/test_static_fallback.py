"""deploy/fallback.xml: the static TwiML Twilio falls back to while the app is down.

It must be TwiML Twilio runs (known verbs, known attributes, valid values, voices that speak
their language), say what the app's own error path says, and its recording callback must be
one the app, once back, accepts and turns into a report.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from rq import Queue
from sqlalchemy import select

from hotline.extensions import db
from hotline.flows.twiml import CALLBACK_OVERRIDES
from hotline.flows.voices import check_voice
from hotline.models import Event, Recording, Report
from hotline.simulator.twiml import Hangup, Record, Say, parse
from hotline.simulator.webhooks import recording_url
from hotline.voice.safety import salvage_twiml, unconfirmed_twiml
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_URL, SAFE_SCHOOLS, RedisServer, TwilioClient
from tests.pipeline.conftest import UTTERANCES, run_jobs
from tests.voice.driver import VoiceCall, sid

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PLACEHOLDER = "https://tips.example.org"

# Twilio's <Response> grammar for the verbs the files may use: verb -> allowed attributes.
GRAMMAR = {
    "Say": {"voice", "language", "loop"},
    "Record": {
        "action",
        "method",
        "timeout",
        "finishOnKey",
        "maxLength",
        "playBeep",
        "trim",
        "recordingStatusCallback",
        "recordingStatusCallbackMethod",
        "recordingStatusCallbackEvent",
        "transcribe",
        "transcribeCallback",
    },
    "Hangup": set(),
}


def _load(name: str) -> ET.Element:
    return ET.parse(DEPLOY / name).getroot()


@pytest.mark.parametrize("name", ["fallback.xml", "fallback-thanks.xml"])
def test_the_files_are_twiml_twilio_runs(name: str) -> None:
    root = _load(name)
    assert root.tag == "Response" and not root.attrib
    for el in root:
        assert el.tag in GRAMMAR, f"unknown verb <{el.tag}>"
        assert set(el.attrib) <= GRAMMAR[el.tag], f"<{el.tag}> {set(el.attrib) - GRAMMAR[el.tag]}"
        assert not list(el), f"<{el.tag}> may not nest anything here"
        if el.tag == "Say":
            assert (el.text or "").strip() and check_voice(el.get("voice", ""), el.get("language", "")) is None
        if el.tag == "Record":
            assert el.get("method") == "GET"  # a static host answers GET; many refuse POST
            assert set(el.get("finishOnKey", "")) <= set("0123456789*#")
            assert 1 <= int(el.get("maxLength", "0")) <= 14400 and 1 <= int(el.get("timeout", "0"))
            assert el.get("playBeep") in {"true", "false"}
            assert el.get("recordingStatusCallbackMethod") == "POST"
            assert set(el.get("recordingStatusCallbackEvent", "").split()) <= {"in-progress", "completed", "absent"}
    verbs = parse((DEPLOY / name).read_bytes())  # the simulator's parser: what Twilio would refuse, it refuses
    assert verbs[-1] == Hangup()  # no dead end: never falls off the document into a re-request


def test_the_fallback_says_what_the_apps_error_path_says_and_records_the_same_way() -> None:
    static = parse((DEPLOY / "fallback.xml").read_bytes())
    app = parse(salvage_twiml(PLACEHOLDER, "safe_schools").to_xml())
    assert [v for v in static if isinstance(v, Say)] == [v for v in app if isinstance(v, Say)]
    assert any("9 1 1" in v.text for v in static if isinstance(v, Say))
    (mine,) = (v for v in static if isinstance(v, Record))
    (theirs,) = (v for v in app if isinstance(v, Record))
    # Everything but the action, which cannot be the app (it may be down when it runs).
    assert mine.recording_status_callback == theirs.recording_status_callback
    assert mine.recording_status_callback == f"{PLACEHOLDER}/voice/recording/safe_schools/message{CALLBACK_OVERRIDES}"
    assert (mine.finish_on_key, mine.max_length, mine.timeout, mine.play_beep) == (
        theirs.finish_on_key,
        theirs.max_length,
        theirs.timeout,
        theirs.play_beep,
    )
    assert mine.recording_status_callback_event == theirs.recording_status_callback_event
    assert mine.action == "fallback-thanks.xml"
    thanks = parse((DEPLOY / "fallback-thanks.xml").read_bytes())
    assert thanks == parse(unconfirmed_twiml().to_xml())  # "recorded", never "received"


def _callback() -> str:
    """The file's recording callback, on the test app's public URL instead of the placeholder."""
    record = _load("fallback.xml").find("Record")
    assert record is not None
    url = record.attrib["recordingStatusCallback"]
    assert url.startswith(PLACEHOLDER + "/")
    return PUBLIC_URL + url[len(PLACEHOLDER) :]


def test_its_signed_callback_makes_a_report_when_the_app_is_back(
    app: Flask, twilio: TwilioClient, redis_server: RedisServer
) -> None:
    call = VoiceCall(twilio, SAFE_SCHOOLS)  # the app never saw this call: it was down
    rec_sid = sid("RE")
    for _ in range(2):  # Twilio's retry of a callback it thought failed changes nothing twice
        assert call.recording_status(_callback(), rec_sid, recording_url(PUBLIC_URL, ACCOUNT_SID, rec_sid), 21) == 204
    with app.app_context():
        report = db.session.scalars(select(Report)).one()
        rec = db.session.scalars(select(Recording)).one()
        kinds = list(db.session.scalars(select(Event.kind)))
        assert report.hotline_id == "safe_schools" and report.call_ended_at is not None
        assert rec.recording_sid == rec_sid and rec.question == "message" and rec.status == "completed"
        report_id = report.id
    assert kinds.count("salvaged_call") == 1 and kinds.count("recording_completed") == 1
    connection = redis.Redis.from_url(redis_server.url)
    assert Queue("default", connection=connection).job_ids == [f"finalize-{report_id}-call"]
    assert Queue("recordings", connection=connection).job_ids == [f"fetch-{rec_sid}"]


def test_an_unsigned_callback_in_its_shape_is_refused(app: Flask, twilio: TwilioClient) -> None:
    call = VoiceCall(TwilioClient(app.test_client(), "not-" + AUTH_TOKEN), SAFE_SCHOOLS)
    assert call.recording_status(_callback(), sid("RE"), "https://api.twilio.com/x", 21) == 403
    with app.app_context():
        assert db.session.scalars(select(Report)).first() is None


@pytest.mark.slow
def test_the_message_is_fetched_stored_and_routed(papp: Flask, fake_twilio: Any) -> None:
    """The whole way: callback, fetch from Twilio, storage, transcription, routing."""
    call = VoiceCall(TwilioClient(papp.test_client(), AUTH_TOKEN), SAFE_SCHOOLS)
    rec_sid = sid("RE")
    fake_twilio.add_recording(fake_twilio.account_sid, rec_sid, (UTTERANCES / "u03.wav").read_bytes(), call.call_sid)
    media = recording_url(fake_twilio.base_url, fake_twilio.account_sid, rec_sid)
    assert call.recording_status(_callback(), rec_sid, media, 9) == 204
    run_jobs(papp)
    with papp.app_context():
        rec = db.session.scalars(select(Recording)).one()
        report = db.session.scalars(select(Report)).one()
        assert rec.fetch_state == "stored" and rec.blob_key
        assert report.routed_at is not None
    assert not fake_twilio.has_recording(rec_sid)  # deleted at Twilio once ours
