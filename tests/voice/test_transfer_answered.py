"""A dispatcher pressing 1 in the whisper marks the caller's live transfer as answered.

The whisper runs on the dispatcher's leg: Twilio's requests there carry the leg's own
CallSid, the caller's call as ParentCallSid, the hotline's number as From (the Dial's
callerId) and the dispatcher's number as To.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from hotline import create_app
from hotline.extensions import db
from hotline.models import Base, Call, Event
from tests.conftest import AUTH_TOKEN, SAFE_SCHOOLS, RedisServer, TwilioClient, make_settings
from tests.voice.driver import CALLER, VoiceCall, sid

DISPATCHER = "+13146150911"
SECOND = "+13146150912"  # the group's other phone


def dispatcher_leg(call: VoiceCall, leg_sid: str, to: str = DISPATCHER, **extra: str) -> dict[str, str]:
    return {
        "CallSid": leg_sid,
        "ParentCallSid": call.call_sid,
        "AccountSid": "AC" + "1" * 32,
        "From": SAFE_SCHOOLS,
        "To": to,
        "Caller": SAFE_SCHOOLS,
        "Called": to,
        "CallStatus": "in-progress",
        "Direction": "outbound-dial",
        "ApiVersion": "2010-04-01",
        **extra,
    }


def whisper(twilio: TwilioClient, call: VoiceCall, to: str = DISPATCHER, **extra: str) -> tuple[str, str]:
    """Pick up `to` in the <Dial> the caller hears now; return the leg and its whisper's answer URL."""
    assert call.doc is not None
    number = next((n for n in call.doc.first("Dial").iter("Number") if n.text == to), None)
    assert number is not None, f"{to} is not rung now"
    leg = sid("CA")
    response = twilio.post(number.attrib["url"], dispatcher_leg(call, leg, to, **extra))
    assert response.status_code == 200
    gather = ET.fromstring(response.data).find("Gather")
    assert gather is not None
    return leg, gather.attrib["action"]


def press(twilio: TwilioClient, call: VoiceCall, leg: str, url: str, digits: str, **extra: str) -> ET.Element:
    to = extra.pop("To", DISPATCHER)
    response = twilio.post(url, dispatcher_leg(call, leg, to, Digits=digits, **extra))
    assert response.status_code == 200 and response.mimetype == "text/xml"
    root = ET.fromstring(response.data)
    assert root.tag == "Response"
    return root


def answered(app: Flask) -> list[dict[str, Any]]:
    with app.app_context():
        return list(db.session.scalars(select(Event.detail).where(Event.kind == "transfer_answered")))


def the_call(app: Flask) -> Call:
    with app.app_context():
        row = db.session.scalars(select(Call)).one()
        db.session.expunge(row)
        return row


def ringing(twilio: TwilioClient) -> VoiceCall:
    call = VoiceCall(twilio, SAFE_SCHOOLS)
    call.start()
    call.press("1")
    call.press("0")
    return call


def test_pressing_1_marks_the_live_transfer_answered_once(app: Flask, twilio: TwilioClient) -> None:
    call = ringing(twilio)
    assert answered(app) == []
    leg, url = whisper(twilio, call)
    bridged = press(twilio, call, leg, url, "1")
    assert list(bridged) == []  # an empty document: Twilio bridges the two calls
    row = the_call(app)
    assert row.mode == "transfer" and answered(app) == [{"turn": row.turn, "call": row.id}]
    press(twilio, call, leg, url, "1")  # Twilio repeats the request
    assert answered(app) == [{"turn": row.turn, "call": row.id}]
    doc = call.dial_result("completed")
    assert doc.verbs[-1] == "Hangup"
    press(twilio, call, leg, url, "1")  # a late repeat after the transfer ended
    assert answered(app) == [{"turn": row.turn, "call": row.id}]


def test_another_key_hangs_up_the_dispatcher_and_marks_nothing(app: Flask, twilio: TwilioClient) -> None:
    call = ringing(twilio)
    leg, url = whisper(twilio, call)
    refused = press(twilio, call, leg, url, "5")
    assert [child.tag for child in refused] == ["Hangup"]
    assert answered(app) == []


def test_an_answer_from_an_earlier_wave_does_not_mark_the_next(app: Flask, twilio: TwilioClient) -> None:
    call = ringing(twilio)
    first_leg, first_url = whisper(twilio, call)
    doc = call.dial_result("no-answer")  # the first phone picked up, nobody pressed 1 in time
    assert [n.text for n in doc.first("Dial").iter("Number")] == [SECOND]  # the next wave
    press(twilio, call, first_leg, first_url, "1", To=DISPATCHER)  # the first whisper's answer, late
    assert answered(app) == []
    leg, url = whisper(twilio, call, SECOND)
    assert url != first_url
    press(twilio, call, leg, url, "1", To=SECOND)
    assert answered(app) == [{"turn": the_call(app).turn, "call": the_call(app).id}]


def test_an_answer_from_an_earlier_transfer_does_not_mark_the_next(app: Flask, twilio: TwilioClient) -> None:
    call = ringing(twilio)
    first_leg, first_url = whisper(twilio, call)
    call.dial_result("no-answer")
    call.dial_result("no-answer")  # the second wave rang out too: back to the flow
    call.press("0")  # the caller asks again
    press(twilio, call, first_leg, first_url, "1")  # the first transfer's answer, late
    assert answered(app) == []
    leg, url = whisper(twilio, call)
    assert url != first_url
    press(twilio, call, leg, url, "1")
    assert answered(app) == [{"turn": the_call(app).turn, "call": the_call(app).id}]


def test_without_a_parent_call_the_dispatcher_is_still_bridged(app: Flask, twilio: TwilioClient) -> None:
    call = ringing(twilio)
    leg, url = whisper(twilio, call)
    params = dispatcher_leg(call, leg, Digits="1")
    del params["ParentCallSid"]
    response = twilio.post(url, params)
    assert response.status_code == 200 and list(ET.fromstring(response.data)) == []
    assert answered(app) == []


def test_neither_the_dispatcher_nor_the_caller_is_stored(app: Flask, twilio: TwilioClient) -> None:
    call = ringing(twilio)
    leg, url = whisper(twilio, call)
    press(twilio, call, leg, url, "1")
    call.dial_result("completed")
    with app.app_context():
        stored = "\n".join(
            repr(tuple(row)) for table in Base.metadata.sorted_tables for row in db.session.execute(table.select())
        )
    assert call.call_sid in stored and "transfer_answered" in stored  # the dump is real
    for secret in (DISPATCHER, DISPATCHER[2:], leg, CALLER, CALLER[2:]):
        assert secret not in stored


@pytest.fixture
def broken_app(tmp_path: Path, redis_server: RedisServer) -> Iterator[Flask]:
    """An app whose database has no tables: every query fails."""
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'empty.db'}", redis_server.url)
    application = create_app(settings)
    yield application
    db.dispose()


def test_a_database_failure_still_bridges_the_dispatcher(broken_app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    twilio = TwilioClient(broken_app.test_client(), AUTH_TOKEN)
    call = VoiceCall(twilio, SAFE_SCHOOLS)
    url = "https://hotline.test/voice/whisper/safe_schools/3/answer"
    root = press(twilio, call, sid("CA"), url, "1")
    assert list(root) == []  # not the caller's apology and message: just the bridge
    assert "could not mark the transfer" in caplog.text and DISPATCHER not in caplog.text
