"""The lockout is the tip number's, whichever way the guesses come: five failures mixed
between /tip/check and call backs lock both ways in. (Held: a regression test.)"""

from __future__ import annotations

from flask import Flask

from hotline.extensions import db
from hotline.models import Report
from tests.conftest import SAFE_SCHOOLS, TwilioClient
from tests.tipweb.conftest import Tipster
from tests.tipweb.test_followup import REFUSED as WEB_REFUSED
from tests.tipweb.test_followup import check
from tests.voice.driver import VoiceCall
from tests.voice.test_callback import PIN, TIP, dial_in, kinds, make_report
from tests.voice.test_callback import REFUSED as PHONE_REFUSED


def test_three_web_and_two_phone_failures_lock_both_ways_in(app: Flask, tipster: Tipster, twilio: TwilioClient) -> None:
    rid = make_report(app, notes=(("en", "Hello."),))
    for wrong in ("1111", "2222", "3333"):
        assert check(tipster, TIP, wrong)[0] == 400
    call = VoiceCall(twilio, SAFE_SCHOOLS, skip_offer=False)
    dial_in(call, pin="4444")
    call.press(TIP, "#")
    assert call.press("5555").says()[0] == PHONE_REFUSED
    timeline = kinds(app, rid)
    assert timeline.count("callback_failed") == 5 and timeline.count("callback_locked") == 1
    with app.app_context():
        report = db.session.get(Report, rid)
        assert report is not None and report.followup_locked_until is not None
    assert dial_in(VoiceCall(twilio, SAFE_SCHOOLS, skip_offer=False)).says()[0] == PHONE_REFUSED
    status, page = check(tipster, TIP, PIN)
    assert status == 400 and WEB_REFUSED in page
    assert "called_back" not in kinds(app, rid)


def test_a_phone_pin_opens_the_tip_on_the_web_and_what_is_read_there_is_not_new_on_the_phone(
    app: Flask, tipster: Tipster, twilio: TwilioClient
) -> None:
    make_report(app, notes=(("en", "Which locker?"),))
    status, page = check(tipster, TIP, PIN)
    assert status == 200 and "Which locker?" in page
    doc = dial_in(VoiceCall(twilio, SAFE_SCHOOLS, skip_offer=False))
    assert "You have 0 new messages." in doc.text() and "Which locker?" not in doc.text()
