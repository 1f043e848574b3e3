"""Attack: an investigator's message pasted with a control character (a vertical tab from a
word processor, an escape sequence, a NUL). Read out on a call back, it made the TwiML
ill-formed XML: Twilio says "an application error has occurred" and hangs up on a caller who
just gave the right PIN, and the messages are marked heard all the same."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from flask import Flask
from sqlalchemy import select

from hotline.extensions import db
from hotline.followup import messages
from hotline.models import TipsterMessage
from hotline.states import MessageDirection
from tests.conftest import SAFE_SCHOOLS, TwilioClient
from tests.voice.driver import VoiceCall
from tests.voice.test_callback import PIN, TIP, make_report, to_offer

PASTED = "Call us\x0bat the office\x1b[31m\x00 soon\ufffe. <Dial>+15551234567</Dial> & thanks\x7f"


def _pin_reply(twilio: TwilioClient) -> str:
    call = VoiceCall(twilio, SAFE_SCHOOLS, skip_offer=False)
    to_offer(call)
    call.press("9")
    call.press(TIP, "#")
    assert call.doc is not None
    reply = call.driver.post(call.doc.first("Gather").attrib["action"], {"Digits": PIN})
    assert reply.status == 200
    return reply.body


def test_a_message_with_control_characters_is_kept_without_them(app: Flask) -> None:
    rid = make_report(app)
    with app.app_context():
        message = messages.write(db.session, rid, PASTED, "en", author_email="a@x.example", agency_id="x")
        assert message.body == "Call us\nat the office[31m soon. <Dial>+15551234567</Dial> & thanks"


def test_a_stored_message_with_control_characters_is_still_read_out(app: Flask, twilio: TwilioClient) -> None:
    rid = make_report(app)
    with app.app_context():  # a row written before the rule, or by another path
        db.session.add(
            TipsterMessage(
                report_id=rid, direction=MessageDirection.TO_TIPSTER, language="en", body=PASTED, agency_id="x"
            )
        )
        db.session.commit()
    root = ET.fromstring(_pin_reply(twilio).encode())  # Twilio parses it as XML
    said = [s.text or "" for s in root.iter("Say")]
    assert "You have 1 new messages." in said or "You have 1 new message." in said
    assert any(s.startswith("Call us") and "Dial>" in s for s in said)  # the words, as words
    assert not any(el.tag == "Dial" for el in root.iter())
    with app.app_context():
        assert db.session.scalars(select(TipsterMessage.heard_at)).one() is not None
