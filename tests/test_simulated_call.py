"""Whole calls placed by the simulator against the real app over HTTP, as Twilio would."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from hotline.extensions import db
from hotline.models import Event, Recording, Report
from hotline.simulator.call import SimulatedCall
from hotline.simulator.callers import ScriptedCaller
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, PREA, SAFE_SCHOOLS, LiveServer
from tests.pipeline.conftest import run_jobs


def place(server: LiveServer, fake: Any, to: str, caller: ScriptedCaller, **options: Any) -> Any:
    call = SimulatedCall(server.url, AUTH_TOKEN, ACCOUNT_SID, to, caller, fake, **options)
    return call.run()


def test_a_safe_schools_call_end_to_end(live: tuple[Flask, LiveServer], fake_twilio: Any) -> None:
    app, server = live
    caller = ScriptedCaller(
        keys=["1", "-", "1", "2", "9", "1357", "1357"], says=["a boy has a gun in his locker", "the north building"]
    )
    result = place(server, fake_twilio, SAFE_SCHOOLS, caller)
    assert result.ok, result.errors
    assert not result.fell_through and result.ended_by in ("hangup", "end")
    heard = " ".join(result.transcript)
    assert "dial 9 1 1" in heard and "press 0 at any time" in heard.lower() and "Goodbye" in heard
    assert len(result.recordings) == 2
    with app.app_context():
        report = db.session.scalars(select(Report)).one()
        assert report.status == "new" and report.urgency == "critical" and report.pin_hash
        assert report.keypad == {"topic": "weapons", "district": "central_county"}
        recordings = db.session.scalars(select(Recording).order_by(Recording.id)).all()
        assert [r.question for r in recordings] == ["problem", "where"]
        assert all(r.status == "completed" and r.recording_sid in result.recordings for r in recordings)
        assert all(r.media_url and r.media_url.startswith(fake_twilio.base_url) for r in recordings)
        assert report.tip_number in heard.replace(", ", "")


def test_a_prea_call_with_a_transfer_nobody_answers(live: tuple[Flask, LiveServer], fake_twilio: Any) -> None:
    app, server = live
    caller = ScriptedCaller(
        keys=["1", "-", "1", "1", "24680", "1", "1", "9", "#"],
        says=["0", "#", "last tuesday night", "he forced me"],
        dispatcher_answers=False,
    )
    result = place(server, fake_twilio, PREA, caller, duplicate_callbacks=True, late_recording_callbacks=True)
    assert result.ok, result.errors
    with app.app_context():
        report = db.session.scalars(select(Report)).one()
        assert report.keypad["inmate_number"] == "24680" and report.keypad["facility"] == "justice_center"
        kinds = list(db.session.scalars(select(Event.kind).where(Event.report_id == report.id)))
        assert "transfer_failed" in kinds
        assert kinds.count("call_ended") == 1 and kinds.count("recording_completed") == 2
        recordings = db.session.scalars(select(Recording)).all()
        assert sorted(r.question for r in recordings) == ["summary", "when"]


def _dials(result: Any) -> list[str]:
    """The DialCallStatus of each wave, in order, as the simulator posted them."""
    return [r.params["DialCallStatus"] for r in result.requests if "/voice/dial/" in r.url]


def test_a_voicemail_that_answers_first_does_not_keep_the_caller_from_a_dispatcher(
    live: tuple[Flask, LiveServer], fake_twilio: Any
) -> None:
    app, server = live
    # Both phones ring; the first one's voicemail picks up first, which ends the other's ringing.
    caller = ScriptedCaller(keys=["1", "0"], voicemail=["+13146150911"])
    result = place(server, fake_twilio, SAFE_SCHOOLS, caller)
    assert result.ok, result.errors
    assert _dials(result) == ["no-answer", "completed"]  # the second wave reached a person
    heard = "\n".join(result.transcript)
    assert "(voicemail) [Say en-US] Incoming Safe Schools hotline call" in heard
    assert "still trying to reach a dispatcher" in heard and "[connected to a dispatcher" in heard
    with app.app_context():
        kinds = list(db.session.scalars(select(Event.kind)))
    assert kinds.count("transfer_answered") == 1 and kinds.count("transfer_completed") == 1
    assert "transfer_failed" not in kinds


def test_when_only_voicemails_answer_the_caller_returns_to_the_flow_and_on_call_is_alerted_once(
    live: tuple[Flask, LiveServer], fake_twilio: Any, caplog: pytest.LogCaptureFixture
) -> None:
    app, server = live
    caplog.set_level(logging.INFO)
    caller = ScriptedCaller(keys=["1", "0", "6"], voicemail=["+13146150911", "+13146150912"])
    result = place(server, fake_twilio, SAFE_SCHOOLS, caller)
    assert result.ok, result.errors
    assert _dials(result) == ["no-answer", "no-answer"]  # each phone's voicemail, one wave each
    heard = "\n".join(result.transcript)
    assert "no dispatcher is free" in heard and "Goodbye" in heard  # back to the flow, to the end
    run_jobs(app)
    with app.app_context():
        kinds = list(db.session.scalars(select(Event.kind)))
    assert kinds.count("transfer_failed") == 1 and kinds.count("on_call_alerted") == 1
    assert caplog.text.count("caller asked for a dispatcher and nobody answered") == 1
