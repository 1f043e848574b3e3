"""The dispatchers' console: live and recent calls, transfer states, notes on a taken call."""

from __future__ import annotations

import re

from flask import Flask
from sqlalchemy import select

from hotline.extensions import db
from hotline.models import Assignment, Call, Event, utcnow
from hotline.review.models import Note
from tests.conftest import AUTH_TOKEN, PREA, SAFE_SCHOOLS, TwilioClient
from tests.review.conftest import Browser, Login, audit_entries
from tests.voice.driver import CALLER, VoiceCall
from tests.voice.test_transfer_answered import press, whisper


def _call(app: Flask, number: str = SAFE_SCHOOLS) -> VoiceCall:
    call = VoiceCall(TwilioClient(app.test_client(), AUTH_TOKEN), number)
    call.start()
    call.press("1")
    return call


def _call_id(app: Flask, call: VoiceCall) -> int:
    with app.app_context():
        found = db.session.scalar(select(Call.id).where(Call.call_sid == call.call_sid))
        assert found is not None
        return found


def _states(html: str) -> dict[int, str]:
    rows = re.findall(r'data-call-id="(\d+)">.*?<td class="call-state">([^<]*)</td>', html, re.S)
    return {int(i): state for i, state in rows}


def test_console_shows_call_states_and_never_the_caller(rapp: Flask, login: Login) -> None:
    talking = _call(rapp)
    ringing = _call(rapp)
    ringing.press("0")
    answered = _call(rapp)
    answered.press("0")
    answered.dial_result("completed")
    answered.hang_up()
    missed = _call(rapp)
    missed.press("0")
    missed.dial_result("no-answer")
    missed.hang_up()
    abandoned = _call(rapp)
    abandoned.press("0")
    abandoned.hang_up()
    # A dispatcher pressed 1 in the whisper: bridged, talking now.
    twilio = TwilioClient(rapp.test_client(), AUTH_TOKEN)
    talking_to_dispatcher = _call(rapp)
    talking_to_dispatcher.press("0")
    leg, answer_url = whisper(twilio, talking_to_dispatcher)
    press(twilio, talking_to_dispatcher, leg, answer_url, "1")
    # Bridged, and the caller hung up before Twilio's Dial action came.
    hung_up_bridged = _call(rapp)
    hung_up_bridged.press("0")
    leg, answer_url = whisper(twilio, hung_up_bridged)
    press(twilio, hung_up_bridged, leg, answer_url, "1")
    hung_up_bridged.hang_up()
    dispatcher = login("dan@dispatch.example.org", "dispatcher", ("dispatch",))
    page = dispatcher.get("/dispatch")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    states = _states(html)
    assert states == {
        _call_id(rapp, talking): "In progress",
        _call_id(rapp, ringing): "Transfer ringing",
        _call_id(rapp, answered): "Ended (transfer answered)",
        _call_id(rapp, missed): "Ended (transfer not answered)",
        _call_id(rapp, abandoned): "Abandoned during transfer",
        _call_id(rapp, talking_to_dispatcher): "Transfer answered",
        _call_id(rapp, hung_up_bridged): "Ended (transfer answered)",
    }
    for identity in (CALLER, CALLER[2:], "JANE", "CLAYTON", "63105"):
        assert identity not in html
    # Live calls come first.
    order = list(states)
    live = {_call_id(rapp, talking), _call_id(rapp, ringing), _call_id(rapp, talking_to_dispatcher)}
    assert set(order[:3]) == live
    # The refresh fragment has the same rows.
    assert _states(dispatcher.get("/dispatch/rows").get_data(as_text=True)) == states


def test_a_dispatcher_notes_a_call_they_took(rapp: Flask, login: Login) -> None:
    answered = _call(rapp)
    answered.press("0")
    answered.dial_result("completed")
    missed = _call(rapp)
    missed.press("0")
    missed.dial_result("no-answer")
    dispatcher: Browser = login("dan@dispatch.example.org", "dispatcher", ("dispatch",))
    html = dispatcher.get("/dispatch").get_data(as_text=True)
    taken_id, missed_id = _call_id(rapp, answered), _call_id(rapp, missed)
    assert f"/dispatch/calls/{taken_id}/notes" in html and f"/dispatch/calls/{missed_id}/notes" not in html
    response = dispatcher.post(f"/dispatch/calls/{taken_id}/notes", {"note": "Caller was calm."}, "/dispatch")
    assert response.status_code == 302
    refused = dispatcher.post(f"/dispatch/calls/{missed_id}/notes", {"note": "not mine"}, "/dispatch")
    assert refused.status_code == 302
    with rapp.app_context():
        [note] = db.session.scalars(select(Note)).all()
        assert (note.body, note.call_id, note.author_email) == (
            "Caller was calm.",
            taken_id,
            "dan@dispatch.example.org",
        )
        kinds = db.session.scalars(select(Event.kind).where(Event.report_id == note.report_id)).all()
        assert "call_note_added" in kinds
        report_id = note.report_id
    [entry] = audit_entries(rapp, "call.note_added")
    assert entry.target_id == str(taken_id)
    # Investigators of the report's agencies see it on the timeline once it is routed there.
    ann = login("ann@schools.example.org", "investigator", ("safe_schools_unit",))
    with rapp.app_context():
        db.session.add(Assignment(report_id=report_id, agency_id="safe_schools_unit", due_at=utcnow()))
        db.session.commit()
    timeline = ann.get(f"/reports/{report_id}").get_data(as_text=True)
    assert "Dispatcher&#39;s note on the call by dan@dispatch.example.org" in timeline
    assert "Caller was calm." in timeline


def test_prea_calls_are_only_on_the_prea_desks_console(rapp: Flask, login: Login) -> None:
    prea = _call(rapp, PREA)
    prea.press("0")
    prea.dial_result("completed")
    school = _call(rapp)
    county = login("dan@dispatch.example.org", "dispatcher", ("dispatch",))
    desk = login("pam@prea.example.org", "dispatcher", ("prea_unit",))
    prea_id, school_id = _call_id(rapp, prea), _call_id(rapp, school)
    assert set(_states(county.get("/dispatch").get_data(as_text=True))) == {school_id}
    assert set(_states(desk.get("/dispatch").get_data(as_text=True))) == {prea_id, school_id}
    sneaky = county.post(f"/dispatch/calls/{prea_id}/notes", {"note": "x"}, "/dispatch")
    assert sneaky.status_code == 404
    assert county.post("/dispatch/calls/999999/notes", {"note": "x"}, "/dispatch").status_code == 404
    denied = audit_entries(rapp, "report.denied")
    assert [(d.target_type, d.target_id, d.detail["reason"]) for d in denied] == [
        ("call", str(prea_id), "not_assigned"),
        ("call", "999999", "missing"),
    ]
