"""Every branch of the Safe Schools flow, driven by signed requests through the test client."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import func, select

from hotline.extensions import db
from hotline.models import Event, Recording, Report
from hotline.security.pins import pin_matches
from tests.conftest import SAFE_SCHOOLS, TwilioClient
from tests.voice.driver import VoiceCall


def report_of(app: Flask) -> Report:
    with app.app_context():
        report = db.session.scalars(select(Report)).one()
        db.session.expunge(report)
        return report


def events(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(Event.kind).order_by(Event.id)))


def to_questions(call: VoiceCall, topic: str = "1") -> None:
    call.start()
    call.press("1")
    doc = call.press(topic)
    assert doc.verbs == ["Gather", "Record", "Redirect"]


def test_whole_call_in_english(app: Flask, twilio: TwilioClient) -> None:
    call = VoiceCall(twilio, SAFE_SCHOOLS)
    doc = call.start()
    assert "Safe Schools" in doc.text() and "oprima 2" in doc.text()
    doc = call.press("1")
    text = doc.text()
    assert "dial 9 1 1" in text and "press 0 at any time" in text.lower() and "weapons" in text
    doc = call.press("1")
    assert "what the problem is" in doc.text()
    record = doc.first("Record")
    assert "0" in record.attrib["finishOnKey"] and "#" in record.attrib["finishOnKey"]
    for question in ("Where", "Who", "When", "car"):
        doc = call.answer("#")
        assert question in doc.text()
    doc = call.answer("#")
    assert "school district" in doc.text() and "North Valley" in doc.text()
    doc = call.press("3")
    report = report_of(app)
    spoken_tip = ", ".join(report.tip_number)
    assert doc.text().count(spoken_tip) == 2
    doc = call.press("1")  # hear it again
    assert spoken_tip in doc.text()
    doc = call.press("9")
    assert "PIN" in doc.text()
    doc = call.press("2468", "#")
    assert "same four digits" in doc.text()
    doc = call.press("2468", "#")
    assert doc.verbs == ["Say", "Hangup"] and "Goodbye" in doc.text()
    assert call.hang_up() == 204

    report = report_of(app)
    assert report.status == "new" and report.urgency == "critical"
    assert report.categories == ["weapons"] and report.language == "en"
    assert report.keypad == {"topic": "weapons", "district": "riverbend"}
    assert report.pin_hash and "2468" not in report.pin_hash and pin_matches(report.pin_hash, "2468")
    with app.app_context():
        recs = db.session.scalars(select(Recording).order_by(Recording.id)).all()
    assert [r.question for r in recs] == ["problem", "where", "who", "when", "vehicle"]
    assert all(r.status == "completed" and r.duration == 7 for r in recs)
    kinds = events(app)
    assert kinds[0] == "call_started" and kinds[-1] == "call_ended"
    assert kinds.count("recording_completed") == 5


def test_spanish_prompts_use_the_spanish_voice(app: Flask, twilio: TwilioClient) -> None:
    call = VoiceCall(twilio, SAFE_SCHOOLS)
    call.start()
    doc = call.press("2")
    says = list(doc.root.iter("Say"))
    assert says and all(s.attrib["language"] == "es-US" and s.attrib["voice"] == "Polly.Lupe" for s in says)
    assert "marque el 9 1 1" in doc.text()
    call.press("6")
    call.press("#")  # skip every question
    for _ in range(4):
        call.press("#")
    doc = call.press("9")
    assert "número de aviso" in doc.text()
    assert report_of(app).language == "es"


@pytest.mark.parametrize(
    ("key", "category", "urgency"),
    [
        ("1", "weapons", "critical"),
        ("2", "drugs", "high"),
        ("3", "gangs", "high"),
        ("4", "bullying", "high"),
        ("5", "self_harm", "critical"),
        ("6", "other", "normal"),
    ],
)
def test_topic_sets_category_and_urgency(
    app: Flask, twilio: TwilioClient, key: str, category: str, urgency: str
) -> None:
    to_questions(VoiceCall(twilio, SAFE_SCHOOLS), key)
    report = report_of(app)
    assert report.categories == [category] and report.urgency == urgency


def test_silence_reprompts_then_takes_the_default(app: Flask, twilio: TwilioClient) -> None:
    call = VoiceCall(twilio, SAFE_SCHOOLS)
    call.start()
    for _ in range(2):
        doc = call.silence()
        assert "did not hear" in doc.text() and "For English" in doc.text()
    doc = call.silence()  # third silence: English by default
    assert "weapons" in doc.text()
    assert "default_choice" in events(app)
    assert report_of(app).language == "en"


def test_wrong_key_reprompts_then_files_under_other(app: Flask, twilio: TwilioClient) -> None:
    call = VoiceCall(twilio, SAFE_SCHOOLS)
    call.start()
    call.press("1")
    doc = call.press("8")
    assert "not one of the choices" in doc.text() and "weapons" in doc.text()
    call.press("7")
    doc = call.press("*")
    assert doc.verbs == ["Gather", "Record", "Redirect"]
    assert report_of(app).categories == ["other"]


def test_questions_can_be_skipped_by_pound_or_an_empty_recording(app: Flask, twilio: TwilioClient) -> None:
    call = VoiceCall(twilio, SAFE_SCHOOLS)
    to_questions(call)
    doc = call.press("#")  # during the prompt
    assert "Where" in doc.text()
    doc = call.silence()  # the Record ended empty: Twilio follows the Redirect
    assert "Who" in doc.text()
    doc = call.press("5")  # a stray key asks the question again
    assert "not one of the choices" in doc.text() and "Who" in doc.text()
    assert events(app).count("skipped") == 2
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Recording)) == 0


def test_zero_in_a_menu_rings_every_dispatcher_without_the_caller_id(app: Flask, twilio: TwilioClient) -> None:
    call = VoiceCall(twilio, SAFE_SCHOOLS)
    call.start()
    call.press("1")
    doc = call.press("0")
    dial = doc.first("Dial")
    assert dial.attrib["callerId"] == SAFE_SCHOOLS
    assert dial.attrib["timeout"] == "20"
    numbers = dial.findall("Number")
    assert [n.text for n in numbers] == ["+13146150911", "+13146150912"]
    whisper_url = numbers[0].attrib["url"]
    whisper = twilio.post(
        whisper_url,
        {
            "CallSid": "CA" + "e" * 32,
            "AccountSid": "AC" + "1" * 32,
            "From": SAFE_SCHOOLS,
            "To": "+13146150911",
            "Direction": "outbound-api",
            "ParentCallSid": call.call_sid,
        },
    )
    assert whisper.status_code == 200
    body = whisper.get_data(as_text=True)
    assert "Safe Schools hotline" in body and "press 1" in body.lower()
    assert "555" not in body and "0123" not in body  # never the caller's number
    answer_url = body.split('action="')[1].split('"')[0]
    accept = twilio.post(answer_url, {"CallSid": "CA" + "e" * 32, "Digits": "1"})
    assert b"Hangup" not in accept.data
    refuse = twilio.post(answer_url, {"CallSid": "CA" + "e" * 32, "Digits": "5"})
    assert b"<Hangup" in refuse.data


def test_a_completed_transfer_ends_the_call_politely(app: Flask, twilio: TwilioClient) -> None:
    call = VoiceCall(twilio, SAFE_SCHOOLS)
    call.start()
    call.press("0")
    doc = call.dial_result("completed")
    assert doc.verbs[-1] == "Hangup" and "Thank you" in doc.text()
    assert "transfer_completed" in events(app)


@pytest.mark.parametrize("status", ["no-answer", "busy", "failed", "canceled"])
def test_zero_during_a_recording_keeps_it_and_returns_after_no_answer(
    app: Flask, twilio: TwilioClient, status: str
) -> None:
    call = VoiceCall(twilio, SAFE_SCHOOLS)
    to_questions(call)
    call.answer("#")  # problem answered
    doc = call.answer("0")  # pressed 0 while answering "where"
    assert doc.has("Dial")
    doc = call.dial_result(status)
    assert "no dispatcher is free" in doc.text()
    assert "Where" in doc.text() and doc.verbs == ["Gather", "Record", "Redirect"]
    kinds = events(app)
    assert "dispatcher_requested" in kinds and "transfer_failed" in kinds
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Recording)) == 2
        failed = db.session.scalars(select(Event).where(Event.kind == "transfer_failed")).one()
        assert failed.detail == {"status": status}


def test_zero_during_a_question_prompt_transfers(app: Flask, twilio: TwilioClient) -> None:
    call = VoiceCall(twilio, SAFE_SCHOOLS)
    to_questions(call)
    doc = call.press("0")
    assert doc.has("Dial")
    doc = call.dial_result("no-answer")
    assert "what the problem is" in doc.text()


def test_pin_mismatch_and_pin_skip(app: Flask, twilio: TwilioClient) -> None:
    call = VoiceCall(twilio, SAFE_SCHOOLS)
    to_questions(call)
    for _ in range(5):
        call.press("#")
    call.press("1")
    call.press("9")  # leave the tip number
    call.press("1111", "#")
    doc = call.press("2222", "#")
    assert "did not match" in doc.text() and "four digit PIN" in doc.text()
    doc = call.press("12", "#")  # too short
    assert "not one of the choices" in doc.text()
    doc = call.press("", "#")  # pound alone: no PIN
    assert doc.verbs[-1] == "Hangup"
    assert report_of(app).pin_hash is None


def test_zero_during_pin_entry_transfers(app: Flask, twilio: TwilioClient) -> None:
    call = VoiceCall(twilio, SAFE_SCHOOLS)
    to_questions(call)
    for _ in range(5):
        call.press("#")
    call.press("2")
    call.press("9")
    doc = call.press("0", "#")
    assert doc.has("Dial")
    doc = call.dial_result("busy")
    assert "four digit PIN" in doc.text()
