"""A transfer rings the dispatchers in waves: at most ten phones per <Dial>, and after a phone
that picked up without accepting (a voicemail), the phones not yet tried, within max_wait."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from sqlalchemy import select

from hotline import create_app
from hotline.extensions import db
from hotline.models import Call, Event
from hotline.settings import SettingsError
from tests.conftest import SAFE_SCHOOLS, RedisServer, TwilioClient, _clean, make_settings
from tests.voice.driver import VoiceCall
from tests.voice.test_transfer_answered import DISPATCHER, SECOND, press, whisper

TWELVE = [f"+1314615{n:04d}" for n in range(1, 13)]
PREA_DESK = {"name": "PREA desk", "numbers": ["+13146155060"], "on_call": "+13146155061"}


def _app(tmp_path: Path, database_url: str, redis_server: RedisServer, **group: Any) -> Flask:
    county = {"name": "County dispatch", "numbers": [DISPATCHER, SECOND], "on_call": "+13146150900", **group}
    settings = make_settings(
        tmp_path,
        database_url,
        redis_server.url,
        dispatcher_groups={"county_dispatch": county, "prea_desk": PREA_DESK},
    )
    redis.Redis.from_url(redis_server.url).flushall()
    _clean(database_url)
    return create_app(settings)


@pytest.fixture
def make_app(tmp_path: Path, database_url: str, redis_server: RedisServer) -> Iterator[Any]:
    def make(**group: Any) -> Flask:
        return _app(tmp_path, database_url, redis_server, **group)

    yield make
    db.dispose()


def _ringing(app: Flask) -> tuple[TwilioClient, VoiceCall]:
    twilio = TwilioClient(app.test_client())
    call = VoiceCall(twilio, SAFE_SCHOOLS)
    call.start()
    call.press("1")
    call.press("0")
    return twilio, call


def _rung(call: VoiceCall) -> list[str]:
    assert call.doc is not None
    return [n.text or "" for n in call.doc.first("Dial").iter("Number")]


def _kinds(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(Event.kind).order_by(Event.id)))


def _set_flag(app: Flask, name: str, value: str) -> None:
    with app.app_context():
        row = db.session.scalars(select(Call)).one()
        row.flags = {**row.flags, name: value}
        db.session.commit()


def test_a_group_of_twelve_rings_ten_then_the_other_two(make_app: Any) -> None:
    app = make_app(numbers=TWELVE)
    _, call = _ringing(app)
    assert _rung(call) == TWELVE[:10]  # Twilio dials at most ten <Number>s
    doc = call.dial_result("no-answer")  # the first wave rang out: the other two now
    assert _rung(call) == TWELVE[10:] and "still trying to reach a dispatcher" in doc.text()
    doc = call.dial_result("no-answer")
    assert "no dispatcher is free" in doc.text() and doc.has("Gather")  # back to the flow
    kinds = _kinds(app)
    assert kinds.count("transfer_retried") == 1 and kinds.count("transfer_failed") == 1


def test_a_voicemail_that_picks_up_first_leaves_the_others_to_be_rung(make_app: Any) -> None:
    app = make_app()
    twilio, call = _ringing(app)
    whisper(twilio, call, DISPATCHER)  # its voicemail picks up, hears the whisper, presses nothing
    # Whatever Twilio reports, a phone that picked up without pressing 1 was not bridged.
    call.dial_result("completed")
    assert _rung(call) == [SECOND]
    leg, url = whisper(twilio, call, SECOND)
    press(twilio, call, leg, url, "1", To=SECOND)
    doc = call.dial_result("completed")
    assert doc.verbs[-1] == "Hangup" and "Thank you" in doc.text()
    kinds = _kinds(app)
    assert kinds.count("transfer_picked_up") == 2 and kinds.count("transfer_retried") == 1
    assert "transfer_completed" in kinds and "transfer_failed" not in kinds
    with app.app_context():
        row = db.session.scalars(select(Call)).one()
        assert not any(name.startswith("dial_") for name in row.flags)  # the transfer's state is gone


def test_machine_detection_hangs_up_on_a_voicemail_at_once(make_app: Any) -> None:
    app = make_app(machine_detection=True)
    twilio, call = _ringing(app)
    assert call.doc is not None
    assert {n.attrib.get("machineDetection") for n in call.doc.first("Dial").iter("Number")} == {"Enable"}
    number = next(n for n in call.doc.first("Dial").iter("Number") if n.text == DISPATCHER)
    params = {
        "CallSid": "CA" + "e" * 32,
        "ParentCallSid": call.call_sid,
        "AccountSid": "AC" + "1" * 32,
        "From": SAFE_SCHOOLS,
        "To": DISPATCHER,
        "Direction": "outbound-dial",
        "AnsweredBy": "machine_start",
    }
    response = twilio.post(number.attrib["url"], params)
    assert [child.tag for child in ET.fromstring(response.data)] == ["Hangup"]  # no announcement
    call.dial_result("no-answer")
    assert _rung(call) == [SECOND]
    with app.app_context():
        picked = db.session.scalars(select(Event.detail).where(Event.kind == "transfer_picked_up")).one()
    assert picked["machine"] is True and picked["position"] == 0


def test_when_nobody_accepts_the_caller_gets_the_no_answer_path_once(make_app: Any) -> None:
    app = make_app()
    twilio, call = _ringing(app)
    whisper(twilio, call, DISPATCHER)
    call.dial_result("no-answer")
    whisper(twilio, call, SECOND)
    doc = call.dial_result("no-answer")
    assert "no dispatcher is free" in doc.text() and "What is your tip about" in doc.text()
    assert _kinds(app).count("transfer_failed") == 1  # one on-call alert, not one per wave


def test_no_wave_starts_past_max_wait(make_app: Any) -> None:
    app = make_app(numbers=TWELVE, timeout=20, max_wait=30)
    _, call = _ringing(app)
    with app.app_context():
        since = int(db.session.scalars(select(Call)).one().flags["dial_since"])
    _set_flag(app, "dial_since", str(since - 26))  # the first wave took 26 of the 30 seconds
    doc = call.dial_result("no-answer")
    assert "no dispatcher is free" in doc.text()  # two phones never rang: no time left for them
    assert _kinds(app).count("transfer_failed") == 1


def test_the_last_wave_rings_only_for_the_time_left(make_app: Any) -> None:
    app = make_app(numbers=TWELVE, timeout=20, max_wait=40)
    _, call = _ringing(app)
    with app.app_context():
        since = int(db.session.scalars(select(Call)).one().flags["dial_since"])
    _set_flag(app, "dial_since", str(since - 28))
    doc = call.dial_result("no-answer")
    assert _rung(call) == TWELVE[10:]
    assert 10 <= int(doc.first("Dial").attrib["timeout"]) <= 12


def test_a_retried_dial_action_rings_the_next_wave_once(make_app: Any) -> None:
    app = make_app(numbers=TWELVE)
    _, call = _ringing(app)
    dial_url = call.doc.first("Dial").attrib["action"] if call.doc else ""
    first = call.dial_result("no-answer")
    again = call.post(dial_url, {"DialCallStatus": "no-answer", "DialCallSid": "CA" + "f" * 32})
    assert ET.tostring(again.root) == ET.tostring(first.root)
    assert _kinds(app).count("transfer_retried") == 1


@pytest.mark.parametrize(
    ("group", "expected"),
    [
        ({"numbers": [DISPATCHER, DISPATCHER]}, "a number is listed twice"),
        ({"timeout": 30, "max_wait": 20}, "max_wait (20 s) is shorter than one wave's timeout (30 s)"),
    ],
)
def test_inconsistent_groups_are_refused_at_start_up(
    tmp_path: Path, database_url: str, redis_server: RedisServer, group: dict[str, Any], expected: str
) -> None:
    with pytest.raises(SettingsError) as info:
        _app(tmp_path, database_url, redis_server, **group)
    assert "dispatcher_groups.county_dispatch" in str(info.value) and expected in str(info.value)
