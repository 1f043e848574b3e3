"""Every branch of the PREA flow."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from hotline.extensions import db
from hotline.models import Event, Recording
from tests.conftest import PREA, TwilioClient
from tests.voice.driver import VoiceCall
from tests.voice.test_safe_schools import events, report_of


def to_caller_type(call: VoiceCall, language: str = "1") -> None:
    call.start()
    doc = call.press(language)
    assert "in custody" in doc.text() or "bajo custodia" in doc.text()


def test_anonymous_inmate_report(app: Flask, twilio: TwilioClient) -> None:
    call = VoiceCall(twilio, PREA)
    doc = call.start()
    assert "PREA hotline" in doc.text()
    doc = call.press("1")
    assert "dial 9 1 1" in doc.text() and "Press 0 at any time" in doc.text()
    doc = call.press("1")  # in custody
    assert "anonymous" in doc.text()
    doc = call.press("1")  # stay anonymous
    assert "name of the person who committed" in doc.text()
    doc = call.answer("#")
    assert "inmate master number" in doc.text()
    doc = call.press("4815162", "#")
    assert "You entered 4, 8, 1, 5, 1, 6, 2." in doc.text()
    doc = call.press("1")
    assert "Where did it happen" in doc.text() and "County Justice Center" in doc.text()
    doc = call.press("1")
    assert "date and time" in doc.text()
    doc = call.answer("#")
    assert "what happened" in doc.text()
    doc = call.answer("#")
    assert "report number" in doc.text()
    call.press("3")
    call.press("9090", "#")
    doc = call.press("9090", "#")
    assert doc.verbs[-1] == "Hangup" and "outside the jail" in doc.text()
    call.hang_up()

    report = report_of(app)
    assert report.hotline_id == "prea" and report.categories == ["sexual_abuse"]
    assert report.urgency == "high"
    assert report.keypad == {
        "caller_type": "inmate",
        "anonymous": "yes",
        "inmate_number": "4815162",
        "facility": "justice_center",
    }
    with app.app_context():
        questions = list(db.session.scalars(select(Recording.question).order_by(Recording.id)))
    assert questions == ["offender", "when", "summary"]


def test_family_member_who_leaves_a_name(app: Flask, twilio: TwilioClient) -> None:
    call = VoiceCall(twilio, PREA)
    to_caller_type(call, "2")
    call.press("2")  # family member
    doc = call.press("2")  # not anonymous
    assert "diga su nombre" in doc.text()
    doc = call.answer("#")
    assert "nombre de la persona" in doc.text()
    report = report_of(app)
    assert report.keypad["caller_type"] == "family_or_friend" and report.keypad["anonymous"] == "no"
    with app.app_context():
        assert db.session.scalars(select(Recording.question)).one() == "contact"


def _to_inmate_number(call: VoiceCall) -> None:
    to_caller_type(call)
    call.press("3")
    call.press("1")
    doc = call.press("#")  # skip the offender's name
    assert "inmate master number" in doc.text()


def test_inmate_number_can_be_re_entered(app: Flask, twilio: TwilioClient) -> None:
    call = VoiceCall(twilio, PREA)
    _to_inmate_number(call)
    call.press("1234", "#")
    doc = call.press("2")  # wrong: enter again
    assert "inmate master number" in doc.text()
    doc = call.press("5678", "#")
    assert "5, 6, 7, 8" in doc.text()
    call.press("1")
    assert report_of(app).keypad["inmate_number"] == "5678"


def test_unconfirmed_inmate_number_is_kept_and_marked(app: Flask, twilio: TwilioClient) -> None:
    call = VoiceCall(twilio, PREA)
    _to_inmate_number(call)
    call.press("1234", "#")
    call.silence()
    call.silence()
    doc = call.silence()
    assert "Where did it happen" in doc.text()
    keypad = report_of(app).keypad
    assert keypad["inmate_number"] == "1234" and keypad["inmate_number_unconfirmed"] == "true"


def test_pound_alone_skips_the_inmate_number(app: Flask, twilio: TwilioClient) -> None:
    call = VoiceCall(twilio, PREA)
    _to_inmate_number(call)
    doc = call.press("", "#")
    assert "Where did it happen" in doc.text()
    assert "inmate_number" not in report_of(app).keypad


def test_too_short_or_silent_inmate_number_reprompts(app: Flask, twilio: TwilioClient) -> None:
    call = VoiceCall(twilio, PREA)
    _to_inmate_number(call)
    doc = call.press("12", "#")
    assert "not one of the choices" in doc.text() and "inmate master number" in doc.text()
    doc = call.silence()
    assert "did not hear" in doc.text()
    doc = call.silence()  # out of re-prompts: move on without it
    assert "Where did it happen" in doc.text()


def test_zero_in_digit_entry_and_confirmation(app: Flask, twilio: TwilioClient) -> None:
    call = VoiceCall(twilio, PREA)
    _to_inmate_number(call)
    doc = call.press("0", "#")
    dial = doc.first("Dial")
    assert [n.text for n in dial.findall("Number")] == ["+13146155060"]
    assert dial.attrib["callerId"] == PREA
    doc = call.dial_result("no-answer")
    assert "nobody from the PREA unit" in doc.text() and "inmate master number" in doc.text()
    # 0 while the number is read back for confirmation rings the PREA unit too.
    doc = call.press("1234", "#")
    assert "You entered 1, 2, 3, 4." in doc.text()
    doc = call.press("0")
    dial = doc.first("Dial")
    assert [n.text for n in dial.findall("Number")] == ["+13146155060"]
    assert dial.attrib["callerId"] == PREA
    doc = call.dial_result("no-answer")
    # Back where the caller left off: the same digits read back, still to be confirmed.
    assert "nobody from the PREA unit" in doc.text() and "You entered 1, 2, 3, 4." in doc.text()
    doc = call.press("1")
    assert "Where did it happen" in doc.text()
    assert report_of(app).keypad["inmate_number"] == "1234"
    with app.app_context():
        kinds = list(db.session.scalars(select(Event.kind)))
    assert kinds.count("transfer_failed") == 2 and kinds.count("dispatcher_requested") == 2


def test_default_caller_type_after_silence(app: Flask, twilio: TwilioClient) -> None:
    call = VoiceCall(twilio, PREA)
    to_caller_type(call)
    for _ in range(3):
        doc = call.silence()
    assert "anonymous" in doc.text()
    assert report_of(app).keypad["caller_type"] == "other"
    assert "default_choice" in events(app)
